"""Dataset adapters: each reads one published dataset in its official layout (or a labelled folder)
into one table of images with the study's columns (``SOURCE_COLUMNS``), its class vocabulary mapped
to the study's classes by ``samderm.data.sources.taxonomy``, every metadata column kept."""

# one row per image file listed by the dataset; metadata columns follow these, prefixed "meta_"
SOURCE_COLUMNS = [
    "image_id",        # the dataset's own image id, unique within the dataset
    "path",            # the image file ("" when the dataset lists an image it does not ship)
    "dataset",         # the adapter's name (ham10000, pad_ufes20, isic2019_test, or the folder's config name)
    "original_label",  # the dataset's own class name, as written there
    "lesion_class",    # the study's class after the taxonomy mapping; "" when unmapped
    "mapping",         # mapped | unmapped_excluded | unmapped_near_ood
    "lesion_id",       # lesion group ("solo_{image_id}" when the dataset gives none)
    "patient_id",      # patient group ("" when the dataset gives none)
    "official_split",  # train | val | test as the dataset's authors split it, "" when they did not
]
