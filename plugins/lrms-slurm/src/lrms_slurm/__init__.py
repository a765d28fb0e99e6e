"""lrms backend for Slurm (``sbatch``, ``squeue``, ``sacct``, ``scontrol``)."""
