"""Models pulled from PyTorch Hub repos for the depth + detection demo."""
import torch
import torch.hub as hub
from torch import hub as th_hub
from torch.hub import load as hub_load

MIDAS_TYPE = "DPT_Large"  # "DPT_Hybrid" or "MiDaS_small" for speed


def load_yolo(variant="yolov5s"):
    return torch.hub.load("ultralytics/yolov5", variant, pretrained=True)  # expect: torch.hub.load ids=ultralytics/yolov5


def load_midas():
    midas = torch.hub.load("intel-isl/MiDaS", MIDAS_TYPE)  # expect: torch.hub.load ids=intel-isl/MiDaS
    transforms = torch.hub.load("intel-isl/MiDaS", "transforms")  # expect: torch.hub.load ids=intel-isl/MiDaS
    return midas, transforms.dpt_transform


def load_dino():
    return hub.load("facebookresearch/dinov2:main", "dinov2_vits14")  # expect: torch.hub.load ids=facebookresearch/dinov2 rev=main


def load_resnet():
    return th_hub.load("pytorch/vision:v0.10.0", "resnet18", weights="ResNet18_Weights.IMAGENET1K_V1")  # expect: torch.hub.load ids=pytorch/vision rev=v0.10.0


def load_vad():
    model, utils = hub_load(repo_or_dir="snakers4/silero-vad", model="silero_vad", force_reload=False)  # expect: torch.hub.load ids=snakers4/silero-vad
    return model, utils


def load_custom(repo_dir="./third_party/yolov5", weights="runs/train/exp/weights/best.pt"):
    return torch.hub.load(repo_dir, "custom", path=weights, source="local")


def entrypoints():
    return torch.hub.list("pytorch/vision")


if __name__ == "__main__":
    for variant in ("yolov5s", "yolov5m"):
        print(load_yolo(variant))
