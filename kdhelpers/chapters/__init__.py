"""One module per chapter, named after its notebook; nothing outside ``chapters`` imports it.

The chapter helpers still at the top level of ``kdhelpers`` move here with the layout of issue 24.
"""
