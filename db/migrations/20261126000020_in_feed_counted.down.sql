-- The count stays: 000019 down drops the column.
SELECT 1
