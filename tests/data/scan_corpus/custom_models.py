"""Task heads on top of pretrained encoders."""
import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn
from transformers import AutoConfig, BertModel, BertPreTrainedModel


class BertForSpanClassification(BertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.bert = BertModel(config)
        self.classifier = nn.Linear(config.hidden_size, 2)
        self.post_init()

    def forward(self, input_ids, attention_mask=None):
        hidden = self.bert(input_ids, attention_mask=attention_mask).last_hidden_state
        return self.classifier(hidden)


class ClinicalSpanModel(BertForSpanClassification):
    pass


class TinyNet(nn.Module, PyTorchModelHubMixin):
    def __init__(self, hidden=64):
        super().__init__()
        self.fc = nn.Linear(hidden, hidden)


class PlainNet(nn.Module):
    @classmethod
    def from_pretrained(cls, path):
        net = cls()
        net.load_state_dict(torch.load(path))
        return net


class ModelLoader:
    model_class = BertForSpanClassification

    def __init__(self, checkpoint="dmis-lab/biobert-base-cased-v1.2"):
        self.checkpoint = checkpoint

    def load(self):
        return self.model_class.from_pretrained(self.checkpoint)  # expect: transformers.BertPreTrainedModel.from_pretrained ids=dmis-lab/biobert-base-cased-v1.2


def main():
    config = AutoConfig.from_pretrained("dmis-lab/biobert-v1.1")  # expect: transformers.AutoConfig.from_pretrained ids=dmis-lab/biobert-v1.1
    span = BertForSpanClassification.from_pretrained("dmis-lab/biobert-v1.1", config=config)  # expect: transformers.BertPreTrainedModel.from_pretrained ids=dmis-lab/biobert-v1.1
    clinical = ClinicalSpanModel.from_pretrained("emilyalsentzer/Bio_ClinicalBERT")  # expect: transformers.BertPreTrainedModel.from_pretrained ids=emilyalsentzer/Bio_ClinicalBERT
    tiny = TinyNet.from_pretrained("nateraw/tiny-net-demo")  # expect: huggingface_hub.PyTorchModelHubMixin.from_pretrained ids=nateraw/tiny-net-demo
    plain = PlainNet.from_pretrained("weights/plain.pt")
    return span, clinical, tiny, plain, ModelLoader().load()
