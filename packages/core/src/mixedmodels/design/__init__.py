"""From data and formula to model matrices: data containers and R's factor coding (:mod:`.data`),
the fixed and random-effect model matrices of a formula (:mod:`.matrices`, built from
:mod:`.model_matrix`, :mod:`.variables`, :mod:`.contrasts` and :mod:`.expressions`).
"""
