"""results.json and results.md of an experiment, gathered from each stage's metrics.json."""

from __future__ import annotations

import json
import os
from typing import Optional

from tsss_tf.atomic import atomic_open
from tsss_tf.data.voc import DataError

VARIANTS = ("full", "strong_only", "lnet_only", "tsss")


def atomic_write_text(path: str, text: str) -> None:
    """Writes `text` to `path` atomically (tsss_tf.atomic): a crash leaves the old file or the
    complete new one, never a partial file under the final name."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_json(path: str, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str) -> Optional[dict]:
    """The JSON object in `path`, or None when there is no such file; DataError naming the
    file when it is not a JSON object."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: cannot read it as JSON ({e})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: holds a JSON {type(obj).__name__}, not an object")
    return obj


def _ratio(a, b):
    return None if a is None or not b else a / b


def results_header(cfg, data) -> dict:
    """What results.json says about the run before its figures: config, seed, data set, the
    evaluation set, the split and each class's kind, in class-id order."""
    split = data.split
    kinds = {n: ("background" if k == 0 else "strong" if k == 1 else "weak")
             for n, k in zip(data.class_names, data.class_kinds)}
    return {"config": cfg.name, "seed": cfg.seed, "dataset": cfg.data.dataset,
            "eval_set": cfg.data.test_set,
            "split": {"name": split.name, "hash": split.content_hash(),
                      "strong": list(split.strong), "weak": list(split.weak)},
            "class_names": list(data.class_names), "class_kinds": kinds}


def gather(model_dir: str, header: dict) -> dict:
    """Collects the stage metrics under model_dir into the results dict."""
    results = dict(header)
    results["variants"] = {}
    times = {}
    for stage in ("lnet", "transfer") + VARIANTS:
        m = read_json(os.path.join(model_dir, stage, "metrics.json"))
        if m is None:
            continue
        times[stage] = m.get("wall_time_s")
        if stage == "transfer":
            results["pseudo_labels"] = m.get("pseudo_labels")
        elif "skipped" in m:
            results.setdefault("skipped", {})[stage] = m["skipped"]
        elif stage in VARIANTS:
            results["variants"][stage] = m["test"]
    results["stage_wall_time_s"] = times
    rounds = []
    while True:  # label refinement (PNetConfig.refine_rounds): tsss_round<r>/, refine/round<r+1>/
        r = len(rounds)
        m = read_json(os.path.join(model_dir, f"tsss_round{r}", "metrics.json"))
        if m is None:
            break
        labels = read_json(os.path.join(model_dir, "refine", f"round{r + 1}", "metrics.json"))
        rounds.append({"round": r, "test": m["test"], "wall_time_s": m.get("wall_time_s"),
                       "pseudo_labels": labels and labels.get("pseudo_labels")})
    if rounds:
        results["refinement"] = rounds
    v = results["variants"]
    full, tsss = v.get("full"), v.get("tsss")
    results["ratio_to_full"] = _ratio(tsss and tsss["miou"], full and full["miou"])
    results["ratio_to_full_weak"] = _ratio(tsss and tsss["miou_weak"], full and full["miou_weak"])
    results["ratios"] = {
        k: {"all": _ratio(r["miou"], full and full["miou"]),
            "weak": _ratio(r["miou_weak"], full and full["miou_weak"])}
        for k, r in v.items()}
    return results


def _pct(x):
    return "-" if x is None else f"{100 * x:.1f}"


def to_markdown(results: dict) -> str:
    split = results.get("split", {})
    lines = [f"# Results: {results.get('config')}", "",
             f"Split `{split.get('name')}` (hash `{split.get('hash')}`), seed "
             f"{results.get('seed')}, evaluated on `{results.get('eval_set')}`.", "",
             "| variant | mIoU all | mIoU strong | mIoU weak | % of full (all) | "
             "% of full (weak) | wall time (s) |",
             "|---|---|---|---|---|---|---|"]
    times = results.get("stage_wall_time_s", {})
    for k in VARIANTS:
        r = results["variants"].get(k)
        if r is None:
            continue
        ratio = results["ratios"].get(k, {})
        t = times.get(k)
        lines.append(f"| {k} | {_pct(r['miou'])} | {_pct(r['miou_strong'])} | "
                     f"{_pct(r['miou_weak'])} | {_pct(ratio.get('all'))} | "
                     f"{_pct(ratio.get('weak'))} | {'-' if t is None else f'{t:.0f}'} |")
    for k, why in results.get("skipped", {}).items():
        lines += ["", f"`{k}` was not trained: {why}."]
    pl = results.get("pseudo_labels")
    if pl and pl.get("not_scored"):
        lines += ["", f"Pseudo labels on the weak training images: not measurable "
                  f"({pl['not_scored']})."]
    elif pl:
        scored = pl.get("num_scored", pl.get("num_images"))
        part = ("" if scored == pl.get("num_images") else
                f" ({scored} of the {pl.get('num_images')} weak images have a mask to score)")
        lines += ["", f"Pseudo labels on the weak training images: mIoU {_pct(pl['miou'])} "
                  f"(weak classes {_pct(pl['miou_weak'])}), labelled fraction "
                  f"{_pct(pl.get('labelled_fraction'))}%{part}."]
    full = results["variants"].get("full")
    for rd in results.get("refinement", []):
        t, pl = rd["test"], rd.get("pseudo_labels") or {}
        lines += ["", f"Refinement round {rd['round'] + 1}: the full model's P-Net before it "
                  f"(`tsss_round{rd['round']}`) scores mIoU {_pct(t['miou'])} (weak "
                  f"{_pct(t['miou_weak'])}; {_pct(_ratio(t['miou'], full and full['miou']))}% of "
                  f"full); its labels on the weak training images: mIoU {_pct(pl.get('miou'))} "
                  f"(weak classes {_pct(pl.get('miou_weak'))}), labelled fraction "
                  f"{_pct(pl.get('labelled_fraction'))}%."]
    if "full" in results["variants"]:
        lines += ["", f"**tsss / full: {_pct(results.get('ratio_to_full'))}%** overall, "
                  f"{_pct(results.get('ratio_to_full_weak'))}% over weak classes."]
    lines.append("")
    per = {k: r["per_class"] for k, r in results["variants"].items()}
    if per:
        names = list(next(iter(per.values())).keys())
        kinds = results.get("class_kinds", {})
        unmeasured = {n for r in results["variants"].values()
                      for n in r.get("not_measurable", ())}
        lines += ["## Per-class IoU", "", "| class | kind | " + " | ".join(per) + " |",
                  "|---|---|" + "---|" * len(per)]
        for n in names:
            cells = (["not measurable"] * len(per) if n in unmeasured
                     else [_pct(per[k].get(n)) for k in per])
            lines.append(f"| {n} | {kinds.get(n, '')} | " + " | ".join(cells) + " |")
        if unmeasured:
            lines += ["", f"Not measurable: {', '.join(sorted(unmeasured))} (no pixel of it "
                      f"in the masks of `{results.get('eval_set')}`; left out of every mean)."]
    return "\n".join(lines) + "\n"
