"""Stand-in for Megatron-Core's enums module, so that fixture pickles name the same global
(megatron.core.transformer.enums.AttnBackend) that real Megatron checkpoints name."""
import enum


class AttnBackend(enum.Enum):
    flash = 1
    fused = 2
    unfused = 3
    local = 4
    auto = 5
