"""The size of the study the benchmarks imitate: ISIC 2019's training set, class by class."""

# images per class of ISIC_2019_Training_GroundTruth.csv (25,331; UNK has none)
ISIC_2019_COUNTS = {"MEL": 4522, "NV": 12875, "BCC": 3323, "AK": 867, "BKL": 2624, "DF": 239, "VASC": 253, "SCC": 628}
MALIGNANT = ("MEL", "BCC", "SCC", "AK")  # config/config.yaml's labels, AK on its ak_side
