"""A merchant's catalogue: products (SKU, price, flags) and a tree of categories."""
