"""Bookkeeping infrastructure: the model cache, results and their fingerprints, claims, protocol
cards, cost plans, regression reports, ``make reproduce``, parallel prefetching, statistics over
seeds and the book's plotting style. It may import the core (``kdhelpers.*``), never a chapter."""
