-- The suite inserts these rows into a filesystem table partitioned by (dt, hm); here the
-- partition columns are plain columns, and Spate's partitioned folder is flattened the same
-- way (q10_rows.py) before the comparison.
SELECT auction, bidder, price, dateTime, extra,
       DATE_FORMAT(dateTime, 'yyyy-MM-dd') AS dt, DATE_FORMAT(dateTime, 'HH:mm') AS hm
FROM bid
