-- The three CSV files `spate-bench nexmark generate` writes, as Flink tables.
--
-- The reference suite (nexmark/nexmark, nexmark-flink/src/main/resources/queries/ddl_gen.sql
-- and ddl_views.sql) reads one `datagen` table of nested person/auction/bid rows with an
-- event_type column and a computed `dateTime`, and defines the views `person`, `auction`
-- and `bid` over it. Here each view reads its own CSV file instead:
--   * the file's time columns are epoch milliseconds (BIGINT); `dateTime` (and auction's
--     `expires`) are computed as TIMESTAMP(3) from them, in UTC (the runner sets
--     table.local-time-zone = UTC, so HOUR() and DATE_FORMAT() see UTC wall time);
--   * the watermark is the suite's: dateTime - INTERVAL '4' SECOND, declared per table
--     (the suite declares it once on the union; a join or a window over two tables takes
--     the smaller of the two watermarks, the same thing here);
--   * the views have the suite's column names and order (emailAddress, itemName, ...).
-- The files are bounded: at their end the source emits a final watermark, so every
-- window fires and every timer runs.
-- ${DIR} is replaced by the runner.

CREATE TABLE person_csv (
    id BIGINT,
    name VARCHAR,
    emailAddress VARCHAR,
    creditCard VARCHAR,
    city VARCHAR,
    state VARCHAR,
    date_time BIGINT,
    extra VARCHAR,
    dateTime AS CAST(TO_TIMESTAMP_LTZ(date_time, 3) AS TIMESTAMP(3)),
    WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
) WITH ('connector' = 'filesystem', 'path' = '${DIR}/person.csv', 'format' = 'csv');

CREATE TABLE auction_csv (
    id BIGINT,
    itemName VARCHAR,
    description VARCHAR,
    initialBid BIGINT,
    reserve BIGINT,
    date_time BIGINT,
    expires_ms BIGINT,
    seller BIGINT,
    category BIGINT,
    extra VARCHAR,
    dateTime AS CAST(TO_TIMESTAMP_LTZ(date_time, 3) AS TIMESTAMP(3)),
    WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
) WITH ('connector' = 'filesystem', 'path' = '${DIR}/auction.csv', 'format' = 'csv');

CREATE TABLE bid_csv (
    auction BIGINT,
    bidder BIGINT,
    price BIGINT,
    channel VARCHAR,
    url VARCHAR,
    date_time BIGINT,
    extra VARCHAR,
    dateTime AS CAST(TO_TIMESTAMP_LTZ(date_time, 3) AS TIMESTAMP(3)),
    WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
) WITH ('connector' = 'filesystem', 'path' = '${DIR}/bid.csv', 'format' = 'csv');

CREATE VIEW person AS
SELECT id, name, emailAddress, creditCard, city, state, dateTime, extra FROM person_csv;

CREATE VIEW auction AS
SELECT id, itemName, description, initialBid, reserve, dateTime,
       CAST(TO_TIMESTAMP_LTZ(expires_ms, 3) AS TIMESTAMP(3)) AS expires,
       seller, category, extra
FROM auction_csv;

CREATE VIEW bid AS
SELECT auction, bidder, price, channel, url, dateTime, extra FROM bid_csv;

-- q13's side input (`side_input.csv`, written by `nexmark generate` next to the events).
CREATE TABLE side_input (
    key BIGINT,
    `value` VARCHAR
) WITH ('connector' = 'filesystem', 'path' = '${DIR}/side_input.csv', 'format' = 'csv');
