"""Everything that runs a compiled model."""

from .model import AbstractModel as AbstractModel
from .model import ModelInfo as ModelInfo
