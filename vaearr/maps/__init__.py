"""Map science that needs no model or run, in rooms: one subpackage for each kind of map.

The rooms import each other one way only (import-linter's acyclic contract): ``patterns`` (the static background,
edges, misorientation) at the bottom, then ``indexing``, then ``segmentation``, then ``boundaries``, ``roi``,
``phases`` and ``deformation``; ``decomposition`` stands alone. Below them all sit ``options`` (every map command's
options, light to import) and ``index_methods`` (the indexing methods' registry, which ``options`` checks against).
"""
