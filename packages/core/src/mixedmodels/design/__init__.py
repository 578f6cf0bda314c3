"""From data and formula to model matrices: data containers and R's factor coding (:mod:`.data`),
the fixed and random-effect model matrices of a formula (:mod:`.matrices`).
"""
