"""Linear mixed models: the profiled criterion over blocked cross-products
(:mod:`.criterion`), its dense path for small models (:mod:`.dense`), the whitened path
for residual structures (:mod:`.residual`).
"""
