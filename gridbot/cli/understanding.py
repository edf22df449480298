"""`gridbot understanding train`: retrain the learned model from the shipped corpus and the community's corrections.

    gridbot understanding train                 # shipped examples + corrections in the database -> instance model
    gridbot understanding train --no-db         # shipped examples only (e.g. to reset the instance model)
    gridbot understanding train --shipped       # maintainers: rebuild the package's model from tests/data

The instance model (<instance dir>/understanding_model.bin) is what the app loads when present; running processes
pick it up at their next message (the file's change time is checked). Same data -> same bytes.
"""
from __future__ import annotations

from pathlib import Path

import click

from .base import build_app, fail, load_settings, main


@main.group()
def understanding() -> None:
    """学习模型：用本社区的更正重新训练。(The learned understanding model.)"""


@understanding.command("train")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="写到这个文件（默认：实例目录下的 understanding_model.bin）")
@click.option("--no-db", is_flag=True, help="不读数据库里的更正，只用随包的语料")
@click.option("--shipped", is_flag=True, help="维护者用：从源码的 tests/data 语料重建随包模型与训练集")
def train_command(out: Path | None, no_db: bool, shipped: bool) -> None:
    """重新训练理解模型（随包语料 + 社区更正：不是工单、不予立案、管理台改类别）。(Retrain the model.)"""
    from ..understanding import model as model_mod  # noqa: PLC0415 - numpy loads when the command runs
    from ..understanding import training  # noqa: PLC0415 - as above

    if shipped:
        examples = training.corpus_training()
        if not examples:
            fail("找不到语料 (no corpus in tests/data: run from a source checkout)")
        data = Path(model_mod.__file__).parent / "data"
        data.mkdir(exist_ok=True)
        (data / model_mod.SHIPPED_TRAINING).write_text(model_mod.write_training(examples), encoding="utf-8")
        trained = model_mod.train(examples)
        target = out or data / model_mod.SHIPPED_MODEL
        trained.save(target)
        click.echo(f"随包模型已更新：{target}（{len(examples)} 条样本，词表 {trained.info['vocabulary']}）")
        return
    fixes: list[model_mod.TrainingExample] = []
    if no_db:
        settings = load_settings()
    else:
        app = build_app()
        settings = app.settings
        with app.session() as s:
            fixes = training.corrections(s)
    trained = training.retrain(fixes)
    target = out or settings.instance_dir / model_mod.MODEL_FILE
    trained.save(target)
    click.echo(f"模型已训练：{target}（样本 {trained.info['examples']} 条，其中社区更正 {len(fixes)} 条）")
