"""Training entry point configured with Hydra structured configs."""
from dataclasses import dataclass, field

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig
from transformers import AutoModelForSequenceClassification, AutoTokenizer


@dataclass
class ModelConfig:
    name: str = "microsoft/deberta-v3-small"
    num_labels: int = 2


@dataclass
class DataConfig:
    name: str = "imdb"
    max_length: int = 256


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    lr: float = 3e-5


cs = ConfigStore.instance()
cs.store(name="train", node=TrainConfig)


@hydra.main(version_base=None, config_name="train")
def main(cfg: DictConfig) -> None:
    tokenizer = AutoTokenizer.from_pretrained(cfg.model.name)  # expect: transformers.AutoTokenizer.from_pretrained ids=microsoft/deberta-v3-small
    model = AutoModelForSequenceClassification.from_pretrained(cfg.model.name, num_labels=cfg.model.num_labels)  # expect: transformers.AutoModelForSequenceClassification.from_pretrained ids=microsoft/deberta-v3-small
    print(model.num_parameters(), tokenizer.model_max_length, cfg.lr)


if __name__ == "__main__":
    main()
