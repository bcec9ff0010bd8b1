"""Which of a model's variables belong to its backbone (for a backbone learning-rate multiplier or
a frozen backbone in a training loop).

    backbone_vars, head_vars = split_backbone_variables(model)
    # freeze_backbone: train head_vars only
    # backbone_lr_mult != 1: one optimizer on head_vars with lr, one on backbone_vars with
    #   lr * backbone_lr_mult (scaling the gradients instead is a no-op under Adam / AdamW)

Variables are matched by identity, so this works for the variables of a model created in a
`tf.distribute` strategy scope too.
"""


def backbone_of(model):
    """`model.backbone`, or a ValueError naming the model when it has none."""
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        name = getattr(model, "name", model)
        raise ValueError(f"tsss_tf/models/backbones/params.py: model {name!r} has no `backbone` "
                         "attribute")
    return backbone


def backbone_variables(model):
    """The trainable variables of `model.backbone` (built: call or build the model first)."""
    backbone = backbone_of(model)
    if not backbone.built:
        raise ValueError("tsss_tf/models/backbones/params.py: build the model before asking for "
                         "its backbone variables")
    return list(backbone.trainable_variables)


def split_backbone_variables(model, variables=None, freeze_backbone=False):
    """(backbone variables, other variables) of `variables` (default
    `model.trainable_variables`), in their order. With `freeze_backbone=True` the first list is
    empty: the backbone's variables are left out of both (nothing should train them)."""
    owned = {id(v) for v in backbone_variables(model)}
    variables = list(model.trainable_variables if variables is None else variables)
    backbone = [v for v in variables if id(v) in owned]
    others = [v for v in variables if id(v) not in owned]
    return ([] if freeze_backbone else backbone), others
