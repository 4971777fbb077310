"""What pii.bare_names finds on a real corpus: spans per 100 documents, and a sample to check by eye.

    PYTHONPATH=. python benchmarks/bench_bare_names.py /work/shared/data/petitions/petitions_2017_2019.csv.gz \
        --docs 300 --seed 1 --sample 40

Prints the spans of the title rule (default) and of bare-name mode, per 100 documents, the CPU time per
document, and ``--sample`` random bare-mode spans with 15 characters of context either side, for a person
to mark name / not a name.
"""
from __future__ import annotations

import argparse
import random
import time

import pandas as pd

from textmine.text.pii import PiiMasker
from textmine.text.tokenize import kiwi_for, load_profile


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sample", type=int, default=40)
    args = ap.parse_args()
    texts = pd.read_csv(args.csv)["text"].dropna().astype(str)
    texts = texts.sample(n=min(args.docs, len(texts)), random_state=args.seed).tolist()
    profile = load_profile()
    kiwi = kiwi_for(profile, 1)
    spans = {}
    for bare in (False, True):
        masker = PiiMasker(profile.pii_titles, profile.pii_names, kiwi, signatures=profile.pii_list("signatures"),
                           bare_names=bare)
        start = time.process_time()
        masker.mask_texts(texts[:5])  # warm up Kiwi
        start = time.process_time()
        found = []
        for i in range(0, len(texts), 100):
            chunk = texts[i:i + 100]
            if bare:
                masker._bare = {t: masker._bare_spans(t, tk) for t, tk in zip(chunk, kiwi.tokenize(chunk))}
            masker._read_in_batch(chunk)
            for j, t in enumerate(chunk):
                found += [(i + j, s, e) for s, e, kind in masker.spans(t) if kind == "name"]
            masker._bare = {}
        cpu = time.process_time() - start
        spans[bare] = found
        docs_with = len({d for d, _, _ in found})
        print(f"{'bare' if bare else 'titles'}: {len(found)} name spans in {len(texts)} docs "
              f"({100 * len(found) / len(texts):.1f} per 100 docs; {docs_with} docs with one); "
              f"{1000 * cpu / len(texts):.1f} ms CPU per doc")
    rng = random.Random(args.seed)
    for title, found in (("the title rule (default)", sorted(spans[False])),
                         ("bare mode only", sorted(set(spans[True]) - set(spans[False])))):
        print(f"\n{len(found)} spans of {title}; a sample of {min(args.sample, len(found))}:")
        for d, s, e in sorted(rng.sample(found, min(args.sample, len(found)))):
            t = texts[d]
            print(f"  [{t[s:e]}]  …{t[max(0, s - 15):s]}⟨{t[s:e]}⟩{t[e:e + 15]}…".replace("\n", " "))


if __name__ == "__main__":
    main()
