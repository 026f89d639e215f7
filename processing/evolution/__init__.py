"""Category evolution: accumulated new data clustered, matched to the current categories, reviewed, retrained."""
