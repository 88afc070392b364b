#!/usr/bin/env python3
"""Builds divisions.tsv, the GB/T 2260 division-code table custodian checks
ID numbers against, from published code lists.

Inputs (git directories, as `fetch` or `git clone --bare` leaves them):
  --gb2260 DIR   github.com/cn/GB2260: the Ministry of Civil Affairs (MCA)
                 revisions 1980-2019, the National Bureau of Statistics
                 (NBS) lists 2002-2018 and the GB/T 2260-2002/2007 texts,
                 transcribed as TSV (Source, Revision, Code, Name).
  --nbs2023 DIR  github.com/modood/Administrative-divisions-of-China: the
                 NBS 2023 statistical division codes (cut-off 2023-06-30).

Output: regions.tsv (province and prefecture names, for deriving a
customer's region from an address), and divisions.tsv: one line per six-digit code, `code<TAB>first<TAB>last`, where first
and last are the first and last years a list includes the code, and last is
`-` when the newest list (NBS 2023) still does. NBS codes whose fifth digit
is 7 (development zones, 统计用区划代码 only, not GB/T 2260 divisions) are
left out. Run it again when a newer list is added; the output is sorted, so
a diff shows exactly which codes changed.
"""
import argparse
import csv
import io
import subprocess

NEWEST = 2023


def show(git_dir, path):
    return subprocess.run(
        ["git", "--git-dir", git_dir, "show", f"HEAD:{path}"],
        check=True, capture_output=True, text=True).stdout


def files(git_dir):
    out = subprocess.run(["git", "--git-dir", git_dir, "ls-tree", "-r", "--name-only", "HEAD"],
                         check=True, capture_output=True, text=True).stdout
    return out.split()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb2260", required=True)
    parser.add_argument("--nbs2023", required=True)
    parser.add_argument("--out", default="divisions.tsv")
    args = parser.parse_args()

    years = {}

    def seen(code, year):
        if len(code) != 6 or not code.isdigit() or code[4] == "7":
            return
        years.setdefault(code, set()).add(year)

    for path in files(args.gb2260):
        top = path.split("/")[0]
        if not path.endswith(".tsv") or top not in ("mca", "stats", "200212.tsv", "200712.tsv"):
            continue
        for row in csv.DictReader(io.StringIO(show(args.gb2260, path)), delimiter="\t"):
            seen(row["Code"], int(row["Revision"][:4]))

    for name, suffix in (("areas", ""), ("cities", "00"), ("provinces", "0000")):
        text = show(args.nbs2023, f"dist/{name}.csv")
        for row in csv.DictReader(io.StringIO(text)):
            seen(row["code"] + suffix, NEWEST)

    # Province and prefecture names (NBS 2023) for deriving a customer's
    # region from an address; municipalities' 市辖区/县 and the
    # province-administered county groups are no prefectures and left out.
    regions = []
    for row in csv.DictReader(io.StringIO(show(args.nbs2023, "dist/provinces.csv"))):
        regions.append((row["code"] + "0000", row["name"]))
    for row in csv.DictReader(io.StringIO(show(args.nbs2023, "dist/cities.csv"))):
        if row["name"] in ("市辖区", "县") or "直辖" in row["name"]:
            continue
        regions.append((row["code"] + "00", row["name"]))
    regions_out = args.out.replace("divisions.tsv", "regions.tsv")
    with open(regions_out, "w", encoding="utf-8", newline="\n") as out:
        out.write("# Provinces and prefectures (NBS 2023 names), for a customer's region.\n")
        out.write("# Built by build.py; sources and dates in SOURCES.md.\n")
        for code, name in sorted(regions):
            out.write(f"{code}\t{name}\n")

    with open(args.out, "w", encoding="utf-8", newline="\n") as out:
        out.write("# GB/T 2260 county-level division codes, with the first and last year a\n")
        out.write("# published list includes each; '-' = still in the newest list (NBS 2023).\n")
        out.write("# Built by build.py; sources and dates in SOURCES.md.\n")
        for code in sorted(years):
            first, last = min(years[code]), max(years[code])
            out.write(f"{code}\t{first}\t{'-' if last == NEWEST else last}\n")


if __name__ == "__main__":
    main()
