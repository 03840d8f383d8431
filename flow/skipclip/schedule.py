"""Which skips are cut at which step: groups of stacks, one group every `stride` steps."""
from dataclasses import dataclass

from flow.errors import FlowError
from flow.skipclip.student import without_cut_skips
from flow.train.trainer import StepHook


def parse_order(order: str, blocks: list[int]) -> list[list[int]]:
    """`input` (first stack first), `output` (last first), or groups such as `1+2,3,5,4`
    (encoder indices; `+` joins stacks cut together). Every skip must be named once."""
    if order == "input":
        return [[b] for b in blocks]
    if order == "output":
        return [[b] for b in reversed(blocks)]
    try:
        groups = [[int(b) for b in group.split("+")] for group in order.split(",")]
    except ValueError:
        raise FlowError(f"--order {order!r}: use input, output, or encoder indices such as 1+2,3,4 "
                        f"(the skips are at {blocks})") from None
    named = sorted(b for g in groups for b in g)
    if named != sorted(blocks):
        raise FlowError(f"--order {order!r} names {named}, but the student's skips are at {blocks}; name each once")
    return groups


@dataclass
class SkipSchedule(StepHook):
    """Cut group k at step (k + 1) · stride: steps [k·stride, (k+1)·stride) train with k groups cut.

    Validation runs at each cut, just before it, so the log shows accuracy as the skips go.
    """

    groups: list[list[int]]
    stride: int

    def __post_init__(self):
        if self.stride < 1:
            raise FlowError(f"--stride must be at least 1 step (got {self.stride})")

    def identity(self) -> dict:
        return {"method": "skipclip", "groups": self.groups, "stride": self.stride}

    def cut_at(self, step: int) -> int:
        """Groups cut while step `step` (0-based) trains."""
        return min(len(self.groups), step // self.stride)

    def last_cut(self) -> int:
        """The step at which the final group is cut (0 when there is none)."""
        return len(self.groups) * self.stride

    def active(self, step: int) -> list[int]:
        """Encoder indices of the skips still in place at `step`."""
        return [b for g in self.groups[self.cut_at(step):] for b in g]

    def before_step(self, model, step: int) -> None:
        cut = {b for g in self.groups[: self.cut_at(step)] for b in g}
        for b in (b for g in self.groups for b in g):
            model.encoder[b].skip_active = b not in cut

    def validate_at(self, step: int) -> bool:
        return step % self.stride == 0 and step // self.stride <= len(self.groups)

    def finish(self, model):
        return without_cut_skips(model)
