"""d3l's registries: children of MMEngine's root registries, scope ``d3l``.

Configs say ``default_scope = 'd3l'``; building a component then imports the
module listed in ``locations`` lazily, so ``import d3l`` stays light. Third
parties register their own components into these registries (or children of
them) and load them with ``custom_imports`` in a config.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import INFERENCERS as MMENGINE_INFERENCERS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, locations=['d3l.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor', parent=MMENGINE_RUNNER_CONSTRUCTORS, locations=['d3l.engine'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, locations=['d3l.engine'])
# d3l.evaluation: PredictionExportHook (tools/test.py --show-dir / --save-preds)
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, locations=['d3l.engine.hooks', 'd3l.evaluation'])
LOG_PROCESSORS = Registry(
    'log processor', parent=MMENGINE_LOG_PROCESSORS, locations=['d3l.engine'])

DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, locations=['d3l.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS, locations=['d3l.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, locations=['d3l.datasets.transforms'])
# collate functions and other plain callables referenced from configs
FUNCTIONS = Registry('function', parent=MMENGINE_FUNCTIONS, locations=['d3l.datasets'])

# backbones, heads, losses, algorithms, data preprocessors and 2D teachers
# d3l.evaluation: VotingModel (test-time voting wrapper, tools/test.py --tta)
MODELS = Registry('model', parent=MMENGINE_MODELS,
                  locations=['d3l.models', 'd3l.teachers', 'd3l.evaluation'])
MODEL_WRAPPERS = Registry(
    'model wrapper', parent=MMENGINE_MODEL_WRAPPERS, locations=['d3l.models'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS, locations=['d3l.models'])
# d3l.fusion: SoftLabelFuser (tools/fuse_soft_labels.py)
TASK_UTILS = Registry(
    'task util', parent=MMENGINE_TASK_UTILS, locations=['d3l.models', 'd3l.fusion'])

OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS, locations=['d3l.engine'])
OPTIM_WRAPPERS = Registry(
    'optim wrapper', parent=MMENGINE_OPTIM_WRAPPERS, locations=['d3l.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor', parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['d3l.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS, locations=['d3l.engine'])

METRICS = Registry('metric', parent=MMENGINE_METRICS, locations=['d3l.evaluation'])
EVALUATOR = Registry('evaluator', parent=MMENGINE_EVALUATOR, locations=['d3l.evaluation'])

VISUALIZERS = Registry(
    'visualizer', parent=MMENGINE_VISUALIZERS, locations=['d3l.visualization'])
VISBACKENDS = Registry(
    'vis_backend', parent=MMENGINE_VISBACKENDS, locations=['d3l.visualization'])
INFERENCERS = Registry('inferencer', parent=MMENGINE_INFERENCERS, locations=['d3l.apis'])
