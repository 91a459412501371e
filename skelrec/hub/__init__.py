"""The Hugging Face Hub: ``from_pretrained``, ``push``, model cards.

The checkpoint folder format itself lives in :mod:`skelrec.checkpoint` (below the Hub, so training and evaluation
code can write checkpoints without importing the Hub); its public names are re-exported here for users.
"""

from skelrec.checkpoint import (
    CONFIG_NAME,
    FORMAT_VERSION,
    WEIGHTS_NAME,
    CheckpointConfig,
    ModelPart,
    architecture,
    build_model,
    load_checkpoint,
    load_model,
    load_state_strict,
    read_config,
    save_checkpoint,
)
from skelrec.hub.loading import DEFAULT_MODEL_DIR, LoadedModel, from_pretrained
from skelrec.hub.modelcard import render_model_card, validate_model_card
from skelrec.hub.publish import push, save_pretrained
from skelrec.hub.remote import HubUnavailableError, download

__all__ = [
    "CONFIG_NAME",
    "DEFAULT_MODEL_DIR",
    "FORMAT_VERSION",
    "WEIGHTS_NAME",
    "CheckpointConfig",
    "HubUnavailableError",
    "LoadedModel",
    "ModelPart",
    "architecture",
    "build_model",
    "download",
    "from_pretrained",
    "load_checkpoint",
    "load_model",
    "load_state_strict",
    "push",
    "read_config",
    "render_model_card",
    "save_checkpoint",
    "save_pretrained",
    "validate_model_card",
]
