"""Wire formats, crypto and decision rules.

Pure code: no sockets, no database, no clock reads a caller cannot inject. Everything
here is testable with vectors and values.
"""
