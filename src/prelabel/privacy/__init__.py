"""Privacy: finding and blurring faces before data is shared (``prelabel anonymise``)."""
