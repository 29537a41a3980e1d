"""The result of a comparison: summary, breakdowns, per-token table, provenance."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import io
from ..bootstrap import DEFAULT_B, DEFAULT_SEED, FileBootstrap
from ..errors import InputError
from ..lexicon.source_classes import SOURCE_CLASSES, class_names
from ..models import Window
from ..provenance import Provenance
from . import stats as _stats
from .settings import Settings
from .stream import TokenStream, byte_class_counts

BREAKDOWNS = ("class", "language", "entropy", "file")
# Every mean of a breakdown row carries a file-bootstrap interval, as the summary's do (bits per byte too).
GROUP_INTERVALS = _stats.INTERVAL_MEANS


def _text(b: bytes) -> str:
    return b.decode("utf-8", "backslashreplace")


def _pm(v: float, e: float, f: str = "{:.6f}", scale: float = 1.0, unit: str = "") -> str:
    """A value with its error, as llama.cpp prints it."""
    return f"{f.format(v * scale)} ± {f.format(e * scale)}{unit}"


def _one(v: Any, f: str = "{:.6f}", scale: float = 1.0, unit: str = "") -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{f.format(v * scale)}{unit}"


def _cell(r: pd.Series, column: str, f: str = "{:.6f}", scale: float = 1.0, unit: str = "") -> str:
    return _one(r[column], f, scale, unit)


def _ci(r: pd.Series, column: str, f: str = "{:.6f}") -> str:
    """The file-bootstrap interval of ``column`` as [lo, hi]."""
    return f"[{_one(r[f'{column}_lo'], f)}, {_one(r[f'{column}_hi'], f)}]"


class CompareResult:
    """What :func:`tokprobe.compare.compare` returns.

    - ``summary``: one row per variant: llama.cpp's statistics, tokprobe's extras and provenance
      columns (see :mod:`tokprobe.compare.stats` for the definitions).
    - ``breakdown(by)``: the same statistics per token class, language, reference-entropy bucket
      or file, one row per (variant, group).
    - ``tokens``: one row per (variant, scored token): position, target token, class, language,
      file and line, KL, Δp, entropies, argmaxes, ...
    - ``tokenizer_independent``: bits per byte and per-class bits for every model, including
      variants with a different vocabulary (the only metrics those get).
    - ``provenance``: model sha256s, versions, settings, scheme, n_ctx, threads, seed.
    - ``floor``: the reference compared with itself (``self_kl_max`` must be 0.0).

    Every mean of the summary and the breakdowns carries a 95 % interval from a bootstrap over
    files (``<name>_lo``, ``<name>_hi``; ``n_boot`` replicates, seed ``boot_seed``, both recorded in
    ``provenance.settings["bootstrap"]``). Rows with a non-finite value are excluded from every
    statistic and counted in ``n_invalid``.
    """

    def __init__(self, *, reference: str, variants: list[str], per_variant: dict[str, dict[str, np.ndarray]],
                 stream: TokenStream, plan: list[Window], settings: Settings, provenance: Provenance,
                 token_bytes: list[bytes], floor: dict[str, Any], reference_cache: dict[str, Any],
                 independent: dict[str, dict[str, Any]], run_dir: Path, var_sha256: dict[str, str],
                 ref_sha256: str, n_boot: int = DEFAULT_B, boot_seed: int = DEFAULT_SEED) -> None:
        self.reference = reference
        self.variants = list(variants)
        self.per_variant = per_variant
        self.stream = stream
        self.plan = plan
        self.settings = settings
        self.provenance = provenance
        self._token_bytes = token_bytes
        self.floor = dict(floor or {})
        self.reference_cache = dict(reference_cache or {})
        self._independent = independent
        self.run_dir = Path(run_dir)
        self._var_sha = var_sha256
        self._ref_sha = ref_sha256
        self._summary: pd.DataFrame | None = None
        self._tokens: pd.DataFrame | None = None
        self._breakdowns: dict[str, pd.DataFrame] = {}
        self._indep: pd.DataFrame | None = None
        self._paths = self._display_paths()
        self.n_boot, self.boot_seed = int(n_boot), int(boot_seed)
        self.provenance.settings["bootstrap"] = self._bootstrap(np.zeros(0, dtype=np.int64)).settings()

    # -- helpers --------------------------------------------------------------------------------
    def _display_paths(self) -> list[str]:
        paths = [f.path for f in self.stream.files]
        try:
            root = os.path.commonpath([os.path.dirname(p) for p in paths]) if paths else ""
        except ValueError:
            root = ""
        return [os.path.relpath(p, root) if root else p for p in paths]

    def _targets(self, a: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(a["positions"], dtype=np.int64) + 1

    def _bootstrap(self, files: np.ndarray) -> FileBootstrap:
        return FileBootstrap(files, n_boot=self.n_boot, seed=self.boot_seed)

    def _valid(self, variant: str) -> tuple[dict[str, np.ndarray], int]:
        """The variant's arrays without the rows that hold a non-finite value, and how many those were."""
        a = self.per_variant[variant]
        ok = _stats.valid_rows(a)
        n_bad = int(np.count_nonzero(~ok))
        if not n_bad:
            return a, 0
        return {k: (np.asarray(x)[ok] if len(x) == len(ok) else x) for k, x in a.items()}, n_bad

    def _provenance_columns(self, variant: str) -> dict[str, Any]:
        s = self.settings
        p = self.provenance
        return {
            "ref_sha256": self._ref_sha,
            "var_sha256": self._var_sha.get(variant, ""),
            "n_ctx": s.n_ctx,
            "scheme": s.scheme,
            "stride": s.stride,
            "topk": s.topk if s.mode == "cache-topk" else None,
            "corpus_digest": p.settings.get("corpus_digest", ""),
            "tokens_digest": p.settings.get("tokens_digest", ""),
            "tokprobe_version": p.tokprobe_version,
            "llama_cpp_python_version": p.llama_cpp_python_version,
            "threads": p.settings.get("threads_effective", s.threads),
            "seed": s.seed,
            "bootstrap_b": self.n_boot,
            "bootstrap_seed": self.boot_seed,
        }

    # -- summary --------------------------------------------------------------------------------
    @property
    def summary(self) -> pd.DataFrame:
        if self._summary is None:
            rows = []
            for v in self.variants:
                a, n_invalid = self._valid(v)
                tgt = self._targets(a)
                nb = self.stream.n_bytes[tgt]
                row: dict[str, Any] = {"variant": v, "reference": self.reference, "mode": self.settings.mode}
                same_top = a["argmax_ref"] == a["argmax_var"]
                row.update(_stats.llama_stats(-a["logp_ref"], -a["logp_var"], a["kl"], same_top))
                row["n_tokens"] = int(row["n_tokens"])
                row["n_files"] = 0
                row["n_invalid"] = n_invalid
                row.update(_stats.extra_stats(a, nb))
                gap = np.asarray(a["kl_upper"], dtype=np.float64) - np.asarray(a["kl_lower"], dtype=np.float64)
                row["kl_lower_mean"] = float(np.mean(a["kl_lower"])) if gap.size else math.nan
                row["kl_upper_mean"] = float(np.mean(a["kl_upper"])) if gap.size else math.nan
                row["kl_bound"] = float(np.mean(gap)) if gap.size else math.nan
                row["kl_bound_max"] = float(np.max(gap)) if gap.size else math.nan
                row["self_kl_max"] = self.floor.get("self_kl_max", math.nan)
                row["codec_floor_kl_max"] = self.floor.get("codec_floor_kl_max", math.nan)  # cache-exact only
                row["reference_cache_bytes_per_token"] = self.reference_cache.get("bytes_per_token", math.nan)
                row.update(_stats.interval_stats(self._bootstrap(self.stream.file[tgt]), a, nb))
                row["n_files"] = int(row["n_files"])
                row.update(self._provenance_columns(v))
                rows.append(row)
            self._summary = pd.DataFrame(rows)
        return self._summary

    # -- per-token table ------------------------------------------------------------------------
    @property
    def tokens(self) -> pd.DataFrame:
        if self._tokens is None:
            frames = [self._token_frame(v) for v in self.variants]
            self._tokens = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        return self._tokens

    def _token_frame(self, v: str) -> pd.DataFrame:
        a = self.per_variant[v]
        s = self.stream
        tgt = self._targets(a)
        ids = s.ids[tgt]
        tb = self._token_bytes
        texts = [_text(tb[i]) for i in ids.tolist()]
        fidx = s.file[tgt]
        paths = np.array(self._paths + [""], dtype=object)[np.where(fidx < 0, len(self._paths), fidx)]
        p_ref = np.exp(a["logp_ref"])
        p_var = np.exp(a["logp_var"])
        ebucket = _stats.entropy_bucket(a["entropy_ref"])
        labels = np.array(_stats.entropy_bucket_labels() + ["nan"], dtype=object)
        df = pd.DataFrame({
            "variant": v,
            "position": a["positions"] + 1,
            "token_id": ids.astype(np.int32),
            "text": texts,
            "class": class_names(s.cls[tgt]),
            "language": s.language_names(s.lang[tgt]),
            "file": paths,
            "line": s.line_of(tgt),
            "byte_start": s.byte_start[tgt],
            "n_bytes": s.n_bytes[tgt],
            "kl": a["kl"],
            "kl_lower": a["kl_lower"],
            "kl_upper": a["kl_upper"],
            "kl_reverse": a["kl_reverse"],
            "js": a["js"],
            "dp": p_var - p_ref,
            "p_ref": p_ref,
            "p_var": p_var,
            "logp_ref": a["logp_ref"],
            "logp_var": a["logp_var"],
            "entropy_ref": a["entropy_ref"],
            "entropy_var": a["entropy_var"],
            "entropy_bucket": labels[np.where(ebucket < 0, len(labels) - 1, ebucket)],
            "argmax_ref": a["argmax_ref"],
            "argmax_var": a["argmax_var"],
            "argmax_ref_text": [_text(tb[i]) if 0 <= i < len(tb) else "" for i in a["argmax_ref"].tolist()],
            "argmax_var_text": [_text(tb[i]) if 0 <= i < len(tb) else "" for i in a["argmax_var"].tolist()],
            "top5_overlap": a["top5_overlap"],
            "top10_overlap": a["top10_overlap"],
        })
        for side in ("ref", "var"):  # both models' top-5 next tokens (text, probability), where recorded
            if f"top5_{side}_ids" in a:
                df[f"top5_{side}_text"] = [[_text(tb[i]) if 0 <= i < len(tb) else "" for i in row]
                                           for row in a[f"top5_{side}_ids"].tolist()]
                df[f"top5_{side}_p"] = list(np.exp(a[f"top5_{side}_lp"].astype(np.float64)))
        return df

    # -- breakdowns -----------------------------------------------------------------------------
    def breakdown(self, by: str = "class") -> pd.DataFrame:
        """Statistics per group: ``by`` is 'class', 'language', 'entropy' (reference entropy, nats) or 'file'."""
        if by not in BREAKDOWNS:
            raise InputError(f"unknown breakdown {by!r}; choose one of {', '.join(BREAKDOWNS)}")
        if by in self._breakdowns:
            return self._breakdowns[by]
        rows = []
        for v in self.variants:
            a, _ = self._valid(v)
            tgt = self._targets(a)
            nb = self.stream.n_bytes[tgt]
            files = self.stream.file[tgt]
            kl_total = float(np.sum(a["kl"]))
            for name, sel in self._groups(by, a, tgt):
                if not np.any(sel):
                    continue
                row: dict[str, Any] = {"variant": v, by if by != "entropy" else "entropy_ref": name}
                row.update(_stats.group_stats(a, nb, sel, kl_total))
                row["share_tokens"] = float(np.mean(sel))
                sub = {k: np.asarray(x)[sel] for k, x in a.items()}
                row.update(_stats.interval_stats(self._bootstrap(files[sel]), sub, nb[sel], names=GROUP_INTERVALS))
                row["n_files"] = int(row["n_files"])
                row["too_few"] = bool(row["too_few"])
                rows.append(row)
        df = pd.DataFrame(rows)
        self._breakdowns[by] = df
        return df

    def _groups(self, by: str, a: dict[str, np.ndarray], tgt: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """(name, selection) of each group of a breakdown over the rows of ``a``."""
        s = self.stream
        if by == "class":
            keys = s.cls[tgt].astype(np.int64)
            return [(name, keys == i) for i, name in enumerate(SOURCE_CLASSES)]
        if by == "language":
            keys = s.lang[tgt].astype(np.int64)
            return [(name, keys == i) for i, name in enumerate(s.languages)] + [("unknown", keys < 0)]
        if by == "entropy":
            keys = _stats.entropy_bucket(a["entropy_ref"])
            return [(name, keys == i) for i, name in enumerate(_stats.entropy_bucket_labels())]
        keys = s.file[tgt].astype(np.int64)
        return [(self._paths[i], keys == i) for i in range(len(s.files))]

    # -- paired differences ------------------------------------------------------------------------
    def pairwise(self, metric: str = "kl_mean") -> pd.DataFrame:
        """``metric(A) - metric(B)`` for every pair of variants on the tokens both scored, with a paired
        file-bootstrap interval (both sides resample the same files): ``excludes_zero`` is the tested
        claim "A and B differ". ``metric`` is a mean of the summary (``kl_mean``, ``kl_upper_mean``,
        ``same_top1``, ``ln_ppl_ratio``, ...)."""
        names = tuple(_stats.INTERVAL_MEANS)
        if metric not in names:
            raise InputError(f"unknown metric {metric!r}; choose one of {', '.join(names)}")
        rows = []
        for i, va in enumerate(self.variants):
            for vb in self.variants[i + 1:]:
                a, b = self.per_variant[va], self.per_variant[vb]
                common, ia, ib = np.intersect1d(a["positions"], b["positions"], return_indices=True)
                ok = _stats.valid_rows({k: x[ia] for k, x in a.items()}) & _stats.valid_rows(
                    {k: x[ib] for k, x in b.items()})
                xa = _stats.token_means(a)[metric][ia]
                xb = _stats.token_means(b)[metric][ib]
                iv = self._bootstrap(self.stream.file[common + 1]).paired(xa, xb, valid=ok)
                rows.append({"variant_a": va, "variant_b": vb, "metric": metric, "diff": iv.value,
                             "diff_lo": iv.lo, "diff_hi": iv.hi, "excludes_zero": iv.excludes(0.0),
                             "n_tokens": iv.n_tokens, "n_files": iv.n_files, "n_invalid": int(np.count_nonzero(~ok)),
                             "too_few": iv.too_few})
        return pd.DataFrame(rows)

    # -- tokenizer-independent metrics ------------------------------------------------------------
    @property
    def tokenizer_independent(self) -> pd.DataFrame:
        """Bits per byte (total NLL in bits / UTF-8 bytes of the scored text) and per-class bits.

        Each token's NLL is spread evenly over its source bytes; a class's bits per byte is the
        NLL on its bytes over their number, its share the fraction of all bits. These need no
        shared tokenizer: they are the only metrics for variants with another vocabulary.
        """
        if self._indep is None:
            rows = []
            ref_bpb = math.nan
            for label, d in self._independent.items():
                s: TokenStream = d["stream"]
                a = d["arrays"]
                if not a:
                    continue
                tgt = np.asarray(a["positions"], dtype=np.int64) + 1
                bits = -np.asarray(a["logp"], dtype=np.float64) / _stats.LN2
                counts = byte_class_counts(s, tgt).astype(np.float64)
                nb = counts.sum(axis=1)
                frac = np.divide(counts, nb[:, None], out=np.zeros_like(counts), where=nb[:, None] > 0)
                bits_c = (bits[:, None] * frac).sum(axis=0)
                bytes_c = counts.sum(axis=0)
                total_bits = float(bits.sum())
                total_bytes = float(nb.sum())
                bpb = total_bits / total_bytes if total_bytes else math.nan
                if d["role"] == "reference":
                    ref_bpb = bpb
                row: dict[str, Any] = {
                    "model": label,
                    "role": d["role"],
                    "vocab": d["vocab"],
                    "metric_scope": "tokenizer-independent",
                    "n_tokens": int(len(tgt)),
                    "n_bytes": int(total_bytes),
                    "bits": total_bits,
                    "bpb": bpb,
                }
                for i, c in enumerate(SOURCE_CLASSES):
                    row[f"bpb_{c}"] = float(bits_c[i] / bytes_c[i]) if bytes_c[i] else math.nan
                    row[f"bits_share_{c}"] = float(bits_c[i] / total_bits) if total_bits else math.nan
                    row[f"bytes_{c}"] = int(bytes_c[i])
                rows.append(row)
            df = pd.DataFrame(rows)
            if len(df):
                df.insert(8, "bpb_ratio", df["bpb"] / ref_bpb if ref_bpb == ref_bpb and ref_bpb else math.nan)
            self._indep = df
        return self._indep

    @property
    def timings(self) -> dict[str, float]:
        """Seconds spent: prepare_s (corpus, tokenizer, lexing), load_s, floor_s, passes_s (decode + compare +
        chunk writes), total_s (up to the result), save_s."""
        seconds: dict[str, float] = self.provenance.settings.get("timings", {})
        return seconds

    @property
    def different_vocab(self) -> list[str]:
        return [k for k, d in self._independent.items() if d.get("vocab") == "different"]

    # -- most divergent tokens --------------------------------------------------------------------
    def top_divergent(self, n: int = 10, variant: str | None = None, metric: str = "kl",
                      before: int = 2, after: int = 1) -> pd.DataFrame:
        """The ``n`` tokens with the largest ``metric`` (per variant), with their source context."""
        t = self.tokens
        if variant is not None:
            if variant not in self.variants:
                raise InputError(f"unknown variant {variant!r}; have {', '.join(self.variants)}")
            t = t[t["variant"] == variant]
        if metric not in t.columns:
            raise InputError(f"unknown metric {metric!r}")
        top = t.sort_values(metric, ascending=False, kind="stable").groupby("variant", sort=False).head(int(n))
        ctx, lo, hi = [], [], []
        for pos in top["position"].tolist():
            c, a, b = self.stream.context(int(pos), before=before, after=after)
            ctx.append(c)
            lo.append(a)
            hi.append(b)
        top = top.copy()
        top["context"] = ctx
        top["context_start"] = lo
        top["context_end"] = hi
        return top.reset_index(drop=True)

    # -- a llama.cpp-style table -----------------------------------------------------------------
    def report_table(self) -> pd.DataFrame:
        """Statistics as rows, one column per variant, values formatted like llama.cpp prints them."""
        sm = self.summary
        if sm.empty:
            return pd.DataFrame()

        spec: list[tuple[str, Callable[[pd.Series], str]]] = [
            ("tokens scored", lambda r: f"{int(r['n_tokens'])}"),
            ("files scored", lambda r: f"{int(r['n_files'])}"),
            ("Mean PPL(Q)", lambda r: _pm(r["ppl_var"], r["ppl_var_err"])),
            ("Mean PPL(base)", lambda r: _pm(r["ppl_ref"], r["ppl_ref_err"])),
            ("Cor(ln(PPL(Q)), ln(PPL(base)))", lambda r: _one(r["nll_corr"], "{:.2f}", 100, "%")),
            ("Mean ln(PPL(Q)/PPL(base))", lambda r: _pm(r["ln_ppl_ratio"], r["ln_ppl_ratio_err"])),
            ("Mean PPL(Q)/PPL(base)", lambda r: _pm(r["ppl_ratio"], r["ppl_ratio_err"])),
            ("Mean PPL(Q)-PPL(base)", lambda r: _pm(r["ppl_diff"], r["ppl_diff_err"])),
            ("Mean KLD", lambda r: _pm(r["kl_mean"], r["kl_err"])),
            ("Mean KLD 95% CI (files resampled)", partial(_ci, column="kl_mean")),
        ]
        for name, _ in _stats.KL_PERCENTILES:
            label = {"max": "Maximum KLD", "median": "Median KLD", "min": "Minimum KLD"}.get(name, f"{name[1:]}% KLD")
            spec.append((label, partial(_cell, column=f"kl_{name}")))
        spec.append(("Mean Δp", lambda r: _pm(r["dp_mean"], r["dp_err"], "{:.3f}", 100, " %")))
        for name, _ in _stats.DP_PERCENTILES:
            label = {"max": "Maximum Δp", "median": "Median Δp", "min": "Minimum Δp"}.get(name, f"{name[1:]}% Δp")
            spec.append((label, partial(_cell, column=f"dp_{name}", f="{:.3f}", scale=100, unit="%")))
        spec += [
            ("RMS Δp", lambda r: _pm(r["dp_rms"], r["dp_rms_err"], "{:.3f}", 100, " %")),
            ("Same top p", lambda r: _pm(r["same_top1"], r["same_top1_err"], "{:.3f}", 100, " %")),
            ("Mean reverse KLD (Q||base)", lambda r: _pm(r["kl_reverse_mean"], r["kl_reverse_err"])),
            ("Mean JS divergence", lambda r: _pm(r["js_mean"], r["js_err"])),
            ("Mean entropy base (nats)", lambda r: _one(r["entropy_ref_mean"], "{:.4f}")),
            ("Mean entropy Q (nats)", lambda r: _one(r["entropy_var_mean"], "{:.4f}")),
            ("Top-5 agreement", lambda r: _one(r["top5_agreement"], "{:.3f}", 100, " %")),
            ("Top-10 agreement", lambda r: _one(r["top10_agreement"], "{:.3f}", 100, " %")),
            ("Bits per byte base", lambda r: _one(r["bpb_ref"], "{:.4f}")),
            ("Bits per byte Q", lambda r: _one(r["bpb_var"], "{:.4f}")),
        ]
        if self.settings.mode != "lockstep":
            spec += [
                ("Mean KLD bounds [lower, upper]", lambda r: f"[{r['kl_lower_mean']:.6f}, {r['kl_upper_mean']:.6f}]"),
                ("KLD bound width (mean, max)", lambda r: f"{r['kl_bound']:.6f}, {r['kl_bound_max']:.6f}"),
                ("Mean KLD upper 95% CI (files resampled)", partial(_ci, column="kl_upper_mean")),
            ]
        if (sm["n_invalid"] > 0).any():
            spec.insert(1, ("rows excluded (non-finite)", lambda r: f"{int(r['n_invalid'])}"))
        if self.floor:
            spec.append(("Self floor max|KLD| (base vs base)", lambda r: _one(r["self_kl_max"], "{:.1f}")))
        out: dict[str, list[str]] = {"statistic": [s for s, _ in spec]}
        for _, r in sm.iterrows():
            out[str(r["variant"])] = [f(r) for _, f in spec]
        return pd.DataFrame(out)

    # -- persistence -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "variants": self.variants,
            "summary": self.summary.to_dict(orient="records"),
            "floor": self.floor,
            "reference_cache": self.reference_cache,
            "provenance": self.provenance.to_dict(),
        }

    def save(self, run_dir: str | os.PathLike[str] | None = None) -> Path:
        """Write every table atomically under ``run_dir`` (default: the run's directory)."""
        d = Path(run_dir) if run_dir is not None else self.run_dir
        d.mkdir(parents=True, exist_ok=True)
        if self.variants:
            io.write_frame(self.summary, d / "summary.csv")
            io.write_frame(self.summary, d / "summary.json")
            for by in ("class", "language", "entropy"):
                io.write_frame(self.breakdown(by), d / f"breakdown-{by}.csv")
            io.write_frame(self.tokens, d / "tokens.parquet")
            if len(self.variants) > 1:
                io.write_frame(self.pairwise("kl_mean"), d / "pairwise-kl.csv")
        io.write_frame(self.tokenizer_independent, d / "tokenizer-independent.csv")
        io.write_json(d / "provenance.json", self.provenance.to_dict())
        io.write_json(d / "result.json", self.to_dict())
        return d

    def __repr__(self) -> str:
        n = len(next(iter(self.per_variant.values()))["kl"]) if self.per_variant else 0
        return (f"CompareResult(reference={self.reference!r}, variants={self.variants!r}, "
                f"mode={self.settings.mode!r}, tokens={n})")
