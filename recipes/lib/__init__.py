"""Shared machinery of the recipes (nothing here is a runnable recipe).

- cli: options declared once as config fields (help, --smoke value,
  choices and bounds), the CLI built from them
- harness: the skeleton of every recipe's train() (workdir, resume, units,
  progress, results.json)
- storage: the workdir on disk: config.json, history.csv and its reader,
  checkpoints, rows.jsonl, results.json
- reporting: tables beside the paper's, charts, method labels, error %
- schedules: the step learning-rate schedule (Keras's, with a warm-up)
- training: the one image-classifier training harness, scale options
- settings: per-data-set training settings of the robustness and ablation
  recipes
- images: image data sets as arrays, tf.data pipelines, mixing methods
- data: tensorflow-datasets, failing fast offline
- labels: label corruption
- gradients: input gradients of a classifier (TensorFlow, JAX)
- models: the networks of the paper
"""
