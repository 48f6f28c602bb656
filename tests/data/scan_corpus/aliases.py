"""Every import style people use for the same loaders."""
import huggingface_hub as hh
import sentence_transformers as sbert
import timm as tm
import torch.hub as th
import transformers
import transformers as tf
from torchvision import models as tvm
from transformers import AutoModel as AM
from transformers import AutoTokenizer as Tok
from transformers import pipeline as hf_pipeline


def load_everything():
    a = tf.AutoModel.from_pretrained("distilbert/distilbert-base-uncased")  # expect: transformers.AutoModel.from_pretrained ids=distilbert/distilbert-base-uncased
    b = AM.from_pretrained("microsoft/deberta-v3-base")  # expect: transformers.AutoModel.from_pretrained ids=microsoft/deberta-v3-base
    c = Tok.from_pretrained("microsoft/deberta-v3-base")  # expect: transformers.AutoTokenizer.from_pretrained ids=microsoft/deberta-v3-base
    d = transformers.T5ForConditionalGeneration.from_pretrained("google-t5/t5-small")  # expect: transformers.T5ForConditionalGeneration.from_pretrained ids=google-t5/t5-small
    e = th.load("facebookresearch/detr", "detr_resnet50", pretrained=True)  # expect: torch.hub.load ids=facebookresearch/detr
    f = sbert.SentenceTransformer("BAAI/bge-small-en-v1.5")  # expect: sentence_transformers.SentenceTransformer ids=BAAI/bge-small-en-v1.5
    g = tvm.mobilenet_v3_small(weights="IMAGENET1K_V1")  # expect: torchvision.models.mobilenet_v3_small ids=https://download.pytorch.org/models/mobilenet_v3_small-047dcff4.pth
    h = hh.hf_hub_download("openai/whisper-tiny", "config.json")  # expect: huggingface_hub.hf_hub_download ids=openai/whisper-tiny
    i = tm.create_model("efficientnet_b0", pretrained=True)  # expect: timm.create_model ids=timm/efficientnet_b0.ra_in1k
    j = hf_pipeline("fill-mask", model="FacebookAI/xlm-roberta-base")  # expect: transformers.pipeline ids=FacebookAI/xlm-roberta-base
    Model = tf.AutoModelForMaskedLM
    k = Model.from_pretrained("answerdotai/ModernBERT-base")  # expect: transformers.AutoModelForMaskedLM.from_pretrained ids=answerdotai/ModernBERT-base
    load = th.load
    m = load("pytorch/vision", "resnet50", weights="IMAGENET1K_V2")  # expect: torch.hub.load ids=pytorch/vision
    return a, b, c, d, e, f, g, h, i, j, k, m
