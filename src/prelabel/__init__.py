"""prelabel: open auto-labeling for driving data.

Importing the package loads nothing heavy: model runtimes, servers and plotting live in the backends and are
imported when used.
"""

__version__ = "0.1.0"
