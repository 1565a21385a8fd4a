"""sync-products and sync-stock: the pure catalogue plan (index, diff, plan, brake) and the two
runs that carry it out."""
