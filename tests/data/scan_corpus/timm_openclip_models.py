"""Image backbones from timm and CLIP towers from open_clip."""
import open_clip
import timm
from timm import create_model

BACKBONES = ["convnext_tiny.fb_in22k", "vit_small_patch16_224.augreg_in21k"]


def backbone(name="resnet50", pretrained=True, num_classes=0):
    return timm.create_model(name, pretrained=pretrained, num_classes=num_classes)  # expect: timm.create_model ids=timm/resnet50.a1_in1k,timm/efficientnet_b3.ra2_in1k


def eva():
    return timm.create_model("hf-hub:timm/eva02_base_patch14_224.mim_in22k@main", pretrained=True)  # expect: timm.create_model ids=timm/eva02_base_patch14_224.mim_in22k rev=main


def scratch():
    return create_model("resnet18", pretrained=False)


def random_init():
    return timm.create_model("vit_base_patch16_224", num_classes=10)


def feature_pyramids():
    return [create_model(b, pretrained=True, features_only=True) for b in BACKBONES]  # expect: timm.create_model ids=timm/convnext_tiny.fb_in22k,timm/vit_small_patch16_224.augreg_in21k


def clip_model():
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained="laion2b_s34b_b79k")  # expect: open_clip.create_model_and_transforms ids=laion/CLIP-ViT-B-32-laion2B-s34B-b79K
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    return model, preprocess, tokenizer


def clip_from_hub():
    return open_clip.create_model_from_pretrained("hf-hub:laion/CLIP-ViT-g-14-laion2B-s12B-b42K")  # expect: open_clip.create_model_from_pretrained ids=laion/CLIP-ViT-g-14-laion2B-s12B-b42K


def clip_random():
    return open_clip.create_model("ViT-L-14")


available = timm.list_models("*vit*", pretrained=True)

if __name__ == "__main__":
    print(backbone("efficientnet_b3"))
    print(backbone(pretrained=False))
