"""Backbones for the detection experiments (torchvision model zoo)."""
import torch
import torch.nn as nn
import torchvision
from torch.utils import model_zoo
from torchvision import models
from torchvision.models import EfficientNet_B0_Weights, ResNet50_Weights, efficientnet_b0, resnet50
from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights, fasterrcnn_resnet50_fpn

MODEL_URLS = {
    "resnet18": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    "resnet34": "https://download.pytorch.org/models/resnet34-b627a593.pth",
}
DINO_URL = "https://dl.fbaipublicfiles.com/dino/dino_deitsmall16_pretrain/dino_deitsmall16_pretrain.pth"


def backbone(name="resnet50", pretrained=True):
    if name == "resnet50":
        net = resnet50(weights=ResNet50_Weights.IMAGENET1K_V2 if pretrained else None)  # expect: torchvision.models.resnet50 ids=https://download.pytorch.org/models/resnet50-11ad3fa6.pth
    elif name == "efficientnet_b0":
        net = efficientnet_b0(weights=EfficientNet_B0_Weights.DEFAULT)  # expect: torchvision.models.efficientnet_b0 ids=https://download.pytorch.org/models/efficientnet_b0_rwightman-7f5810bc.pth
    else:
        net = getattr(models, name)(pretrained=pretrained)  # expect: torchvision.models.get_model ids=? missed
    net.fc = nn.Identity()
    return net


def detector(score_thresh=0.9):
    return fasterrcnn_resnet50_fpn(weights=FasterRCNN_ResNet50_FPN_Weights.COCO_V1, box_score_thresh=score_thresh)  # expect: torchvision.models.fasterrcnn_resnet50_fpn ids=https://download.pytorch.org/models/fasterrcnn_resnet50_fpn_coco-258fb6c6.pth


def legacy_vgg():
    return models.vgg16(pretrained=True)  # expect: torchvision.models.vgg16 ids=https://download.pytorch.org/models/vgg16-397923af.pth


def from_scratch(num_classes=10):
    a = models.resnet18(pretrained=False)
    b = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    c = torchvision.models.mobilenet_v3_small()
    return a, b, c


def by_name(arch="resnet34"):
    return torchvision.models.get_model(arch, weights="DEFAULT")  # expect: torchvision.models.get_model ids=https://download.pytorch.org/models/resnet34-b627a593.pth


def load_from_url(arch):
    state = model_zoo.load_url(MODEL_URLS[arch], progress=True)  # expect: torch.utils.model_zoo.load_url ids=https://download.pytorch.org/models/resnet18-f37072fd.pth,https://download.pytorch.org/models/resnet34-b627a593.pth
    return state


def dino_weights():
    return torch.hub.load_state_dict_from_url(DINO_URL, map_location="cpu")  # expect: torch.hub.load_state_dict_from_url ids=https://dl.fbaipublicfiles.com/dino/dino_deitsmall16_pretrain/dino_deitsmall16_pretrain.pth


def local_weights(path="weights/resnet50.pth"):
    return torch.load(path, map_location="cpu")
