# Entropy minimisation on the unlabelled points / shapes with the reference's
# weight 0.5. A task config adds it with
#   _base_ = ['./<task config>.py', '../_base_/semi/entmin.py']
#   model = dict(_delete_=True, type='MeanTeacherEntMin', model=_base_.model,
#                entropy_loss=_base_.entmin_loss)
entmin_loss = dict(type='EntropyLoss', loss_weight=0.5)
