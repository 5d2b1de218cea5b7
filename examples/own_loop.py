"""Your own model and training loop, with a momentum cell inside; the service searches its coefficients.

    PYTHONPATH=examples momentum-search launch examples/own-loop.yaml --workers 2

`train(trial)` gets the trial's cell factory, settings and seed, reports each epoch (which may prune
it) and returns the validation accuracy. The module must import on every worker (PYTHONPATH).
"""

import torch
from sklearn.datasets import load_digits
from torch import nn


class Model(nn.Module):
    def __init__(self, trial):
        super().__init__()
        self.rnn = trial.cell(8, batch_first=True)  # the trial's kind, μ, s, …, size and initialisation
        self.head = nn.Linear(self.rnn.hidden_size, 10)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])  # classify from the last row's hidden state


def train(trial):
    images, labels = load_digits(return_X_y=True)
    x, y = torch.tensor(images / 16, dtype=torch.float32).view(-1, 8, 8), torch.tensor(labels)  # 8 rows of 8 pixels
    model, settings = Model(trial), trial.config
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    best = 0.0
    for epoch in range(1, settings.epochs + 1):
        for batch in torch.randperm(1400).split(settings.batch_size):  # the first 1400 images train
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
        with torch.no_grad():
            accuracy = (model(x[1400:]).argmax(1) == y[1400:]).float().mean().item() * 100
        trial.report(epoch, accuracy)  # raises TrialPruned when the pruner stops the trial
        best = max(best, accuracy)
    return best
