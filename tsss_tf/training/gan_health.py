"""GAN health: notices when the adversarial game of the P-Net stage stops being a game.

Three ways it breaks, each judged on the metrics the GAN step already reports (means over the
steps of a logged chunk):

    condition          metric     unhealthy when                    meaning
    "d_wins"           d_loss     < d_loss_min                      D separates real from fake
                                                                    perfectly: its gradient to G
                                                                    vanishes
    "d_lost"           d_loss     > d_loss_max                      D is no better than a coin
                                                                    flip or diverged
    "d_fake_zero"      d_fake     < d_fake_min                      G never fools D (D(fake) ~ 0)
    "adv_exploded"     adv_loss   > adv_loss_max                    G's adversarial loss explodes

A condition that holds without interruption for more than `patience` steps raises an alarm,
once; it is cleared when the metric comes back into its band. `update` returns the
`HealthEvent`s of that update (new alarms and recoveries) so the caller can log them; `flag`
is 1.0 while any alarm is raised (a TensorBoard scalar).

Monitoring only: nothing here feeds back into training.

>>> h = GanHealth(d_loss_min=0.1, d_loss_max=3.0, d_fake_min=0.01, adv_loss_max=5.0,
...               patience=20)
>>> [e.kind for s in range(10, 60, 10) for e in h.update(s, {"d_loss": 0.01, "d_fake": 0.3})]
['d_wins']
>>> h.flag, h.active
(1.0, ('d_wins',))
>>> [e.message.split(":")[0] for e in h.update(60, {"d_loss": 0.9, "d_fake": 0.3})]
['GAN health recovered at step 60']
"""

from __future__ import annotations

import dataclasses
import math
from typing import Dict, List, Mapping, Optional, Tuple

CONDITIONS = ("d_wins", "d_lost", "d_fake_zero", "adv_exploded")


@dataclasses.dataclass(frozen=True)
class HealthEvent:
    step: int
    kind: str          # one of CONDITIONS
    raised: bool       # True: a new alarm; False: the condition cleared
    message: str


class GanHealth:
    """Tracks the unhealthy conditions of a GAN run over steps (see the module docstring)."""

    def __init__(self, d_loss_min: float = 0.05, d_loss_max: float = 4.0,
                 d_fake_min: float = 0.01, adv_loss_max: float = 4.6, patience: int = 100):
        if not d_loss_min < d_loss_max:
            raise ValueError(f"GAN health band needs d_loss_min < d_loss_max, got "
                             f"[{d_loss_min}, {d_loss_max}]")
        if patience < 0:
            raise ValueError(f"GAN health patience must be >= 0, got {patience}")
        self.d_loss_min, self.d_loss_max = float(d_loss_min), float(d_loss_max)
        self.d_fake_min, self.adv_loss_max = float(d_fake_min), float(adv_loss_max)
        self.patience = int(patience)
        self._since: Dict[str, Optional[int]] = {c: None for c in CONDITIONS}
        self._raised: Dict[str, bool] = {c: False for c in CONDITIONS}
        self._last_step: Optional[int] = None

    @classmethod
    def from_config(cls, pnet_cfg) -> "GanHealth":
        """From a PNetConfig's `health_*` fields."""
        return cls(d_loss_min=pnet_cfg.health_d_loss_min, d_loss_max=pnet_cfg.health_d_loss_max,
                   d_fake_min=pnet_cfg.health_d_fake_min,
                   adv_loss_max=pnet_cfg.health_adv_loss_max, patience=pnet_cfg.health_patience)

    def _unhealthy(self, metrics: Mapping[str, float]) -> Dict[str, Tuple[bool, str]]:
        """{condition: (holds now, description)} for the conditions whose metric is given."""
        out = {}
        d_loss, d_fake, adv = (metrics.get(k) for k in ("d_loss", "d_fake", "adv_loss"))
        if d_loss is not None and math.isfinite(d_loss):
            out["d_wins"] = (d_loss < self.d_loss_min,
                             f"discriminator loss {d_loss:.4g} < {self.d_loss_min:g}: D wins, "
                             "the generator gets no adversarial signal")
            out["d_lost"] = (d_loss > self.d_loss_max,
                             f"discriminator loss {d_loss:.4g} > {self.d_loss_max:g}: D has "
                             "lost or diverged")
        if d_fake is not None and math.isfinite(d_fake):
            out["d_fake_zero"] = (d_fake < self.d_fake_min,
                                  f"D(fake) {d_fake:.4g} < {self.d_fake_min:g}: the generator "
                                  "never fools D")
        if adv is not None and math.isfinite(adv):
            out["adv_exploded"] = (adv > self.adv_loss_max,
                                   f"generator adversarial loss {adv:.4g} > "
                                   f"{self.adv_loss_max:g}: it explodes")
        return out

    def update(self, step: int, metrics: Mapping[str, float]) -> List[HealthEvent]:
        """Feeds the metrics measured up to `step`; returns the alarms raised and cleared."""
        step = int(step)
        events = []
        for kind, (holds, text) in self._unhealthy(metrics).items():
            if not holds:
                self._since[kind] = None
                if self._raised[kind]:
                    self._raised[kind] = False
                    events.append(HealthEvent(step, kind, False,
                                              f"GAN health recovered at step {step}: {kind} "
                                              "no longer holds"))
                continue
            if self._since[kind] is None:
                # the condition began somewhere after the previous update
                self._since[kind] = step if self._last_step is None else self._last_step
            lasted = step - self._since[kind]
            if not self._raised[kind] and lasted > self.patience:
                self._raised[kind] = True
                events.append(HealthEvent(
                    step, kind, True,
                    f"GAN health warning at step {step} ({kind}, for {lasted} steps, patience "
                    f"{self.patience}): {text}"))
        self._last_step = step
        return events

    @property
    def active(self) -> Tuple[str, ...]:
        """The conditions whose alarm is raised now."""
        return tuple(c for c in CONDITIONS if self._raised[c])

    @property
    def flag(self) -> float:
        """1.0 while any alarm is raised, else 0.0."""
        return 1.0 if self.active else 0.0
