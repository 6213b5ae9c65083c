"""``make bench``: performance measured as ratios against baselines run in the same process and moment."""
