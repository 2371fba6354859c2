"""Drawing not-skin and OOD images from Places365 and DTD in their official layouts."""

from __future__ import annotations

import pytest

from samderm.data.download import unpack
from samderm.data.public_sets import category_name, dtd_categories, places365_categories, select_images

from .public_fixtures import DTD_TEXTURES, PLACES_CATEGORIES, dtd_archive, places365_archives


@pytest.fixture
def raw_sets(tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    places365_archives(www, per_category=4)
    dtd_archive(www, per_texture=3)
    for archive in ("val_256.tar", "filelist_places365-standard.tar"):
        unpack(www / archive, tmp_path / "places365")
    unpack(www / "dtd-r1.0.1.tar.gz", tmp_path / "dtd")
    return {"places365": tmp_path / "places365", "dtd": tmp_path / "dtd"}


@pytest.mark.parametrize("name, folder", [("/a/airfield", "airfield"), ("/b/bazaar/indoor", "bazaar_indoor"),
                                          ("bazaar/indoor", "bazaar_indoor"), ("lake/natural", "lake_natural"),
                                          ("kitchen", "kitchen")])
def test_category_names_become_one_folder_level(name, folder):
    assert category_name(name) == folder


def test_official_layouts_are_read_by_category(raw_sets):
    places = places365_categories(raw_sets["places365"])
    assert sorted(places) == sorted(category_name(c) for c in PLACES_CATEGORIES)
    # places365_val.txt lists the files in order, 4 per class index
    assert [p.name for p in places["bazaar_indoor"]] == [f"Places365_val_{n:08d}.jpg" for n in range(5, 9)]
    assert all(p.is_file() for files in places.values() for p in files)
    textures = dtd_categories(raw_sets["dtd"])
    assert sorted(textures) == DTD_TEXTURES and all(len(v) == 3 for v in textures.values())


def test_unknown_category_names_the_key(raw_sets, tmp_path):
    with pytest.raises(ValueError, match=r"data.public.not_skin.places365.categories: unknown places365 categories \['kitchn'\]"):
        select_images({"places365": {"categories": ["kitchn"], "limit": 1}}, {}, raw_sets, tmp_path / "ns", 0,
                      "data.public.not_skin")


def test_limit_null_takes_every_image_of_a_category(raw_sets, tmp_path):
    counts = select_images({"dtd": {"categories": ["woven"], "limit": None}}, {}, raw_sets, tmp_path / "ood", 0,
                           "data.public.ood")
    assert counts == {"woven": 3} and len(list((tmp_path / "ood" / "woven").glob("*.jpg"))) == 3
