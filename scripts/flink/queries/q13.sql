-- The suite joins the side input as a lookup (temporal) table as of each bid's processing
-- time (FOR SYSTEM_TIME AS OF B.p_time), through the legacy filesystem connector. The
-- filesystem connector of Flink 1.20 is no lookup source, so here it is a regular join with
-- the bounded side_input table: the same rows when the file does not change during the run
-- (it does not).
SELECT B.auction, B.bidder, B.price, B.dateTime, S.`value`
FROM bid B
JOIN side_input S
ON MOD(B.auction, 10000) = S.key
