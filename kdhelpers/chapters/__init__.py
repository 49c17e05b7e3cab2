"""The chapters' own helpers: one module per notebook, named after it (``notebooks/<name>.ipynb`` ↔
``kdhelpers.chapters.<name>``): its settings, protocol card, claims, tables and figures.

A chapter module imports the core (``kdhelpers.*``) and the infrastructure (``kdbook``);
nothing outside this package imports it, so it is imported by name::

    from kdhelpers.chapters import temperature as V
"""
