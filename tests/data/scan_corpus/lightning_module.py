"""PyTorch Lightning text classifier; hyper-parameters saved with the checkpoint."""
import pytorch_lightning as pl
import torch
from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup


class TextClassifier(pl.LightningModule):
    def __init__(self, model_name: str = "microsoft/MiniLM-L12-H384-uncased", num_labels: int = 2, lr: float = 2e-5):
        super().__init__()
        self.save_hyperparameters()
        self.encoder = AutoModel.from_pretrained(self.hparams.model_name)  # expect: transformers.AutoModel.from_pretrained ids=microsoft/MiniLM-L12-H384-uncased,google/electra-base-discriminator
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, num_labels)

    @classmethod
    def tokenizer_for(cls, model_name):
        return AutoTokenizer.from_pretrained(model_name)  # expect: transformers.AutoTokenizer.from_pretrained ids=google/electra-base-discriminator

    def forward(self, **batch):
        return self.head(self.encoder(**batch).last_hidden_state[:, 0])

    def training_step(self, batch, batch_idx):
        labels = batch.pop("labels")
        loss = torch.nn.functional.cross_entropy(self(**batch), labels)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr)
        sched = get_linear_schedule_with_warmup(opt, 100, self.trainer.estimated_stepping_batches)
        return [opt], [sched]


if __name__ == "__main__":
    model = TextClassifier(model_name="google/electra-base-discriminator")
    tokenizer = TextClassifier.tokenizer_for("google/electra-base-discriminator")
    pl.Trainer(max_epochs=1).fit(model)
