"""Self-supervised objectives, one module per method, all behind the :class:`Method` interface of :mod:`.base`.

Importing this package imports every method module so that they register themselves in :data:`METHODS`.
"""

from skelrec.ssl import (  # noqa: F401  (importing a method module registers its methods)
    halp,
    macdiff,
    mamp,
    moco,
    skeleton2vec,
    skeletonmae,
    supervised,
)
from skelrec.ssl.base import (
    METHODS,
    InputSpec,
    Method,
    MethodOptions,
    build_encoder_for,
    build_method,
    register_method,
    require_option,
    weight_decay_groups,
)

__all__ = [
    "METHODS",
    "InputSpec",
    "Method",
    "MethodOptions",
    "build_encoder_for",
    "build_method",
    "register_method",
    "require_option",
    "weight_decay_groups",
]
