package kbench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;

/**
 * The Kafka Streams peer of bench/filter: keeps the records whose "Total" is a number above 50,
 * from one topic to another, exactly once (processing.guarantee=exactly_once_v2, commits every
 * 100 ms). Values (and keys) pass through as the bytes they were; Jackson parses the value for
 * the test, as a Kafka Streams user would write it.
 *
 * <p>It stops by itself so that it can be timed: after --count input records, or when no record
 * came for --idle-ms after the first one, or when none came at all within --start-timeout-ms.
 * Closing Kafka Streams cleanly commits the open transaction. Then one line on stdout:
 *
 * <pre>kstreams-filter: records=N kept=K seconds=S records_per_s=R first_record_s=F</pre>
 *
 * seconds runs from the start of main (JVM start-up not included) to the end of close.
 * Exit status: 0 when --count records were read (or it went idle), 1 on an error or when the
 * streams thread died, 2 usage error.
 */
public final class KStreamsFilter {
    private static final String USAGE = String.join("\n",
            "Usage: kstreams-filter --bootstrap HOST:PORT --input TOPIC --output TOPIC",
            "         --application-id ID [--count N] [--idle-ms MS] [--start-timeout-ms MS]",
            "         [--threads N] [--state-dir DIR] [--prop key=value]...",
            "Keeps the records whose Total > 50 (exactly_once_v2, commit.interval.ms=100).",
            "  --count N            stop after N input records (default 0: only when idle)",
            "  --idle-ms MS         stop when no record came for MS after the first (default 10000)",
            "  --start-timeout-ms MS  give up when no record came within MS (default 120000)",
            "  --threads N          num.stream.threads (default 1)",
            "  --state-dir DIR      state.dir (default: a new temporary directory)",
            "  --prop key=value     any other Kafka Streams / client property (repeatable)");

    private KStreamsFilter() {}

    static boolean keep(ObjectMapper mapper, byte[] value) {
        if (value == null) return false;
        try {
            JsonNode total = mapper.readTree(value).get("Total");
            return total != null && total.isNumber() && total.doubleValue() > 50;
        } catch (IOException e) {
            return false; // not JSON: dropped, as a filter on a missing field would
        }
    }

    public static void main(String[] args) throws Exception {
        long start = System.nanoTime();
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");

        String bootstrap = System.getenv().getOrDefault("KAFKA_BROKERS", "localhost:9092");
        String input = null, output = null, appId = null, stateDir = null;
        long count = 0, idleMs = 10_000, startTimeoutMs = 120_000;
        int threads = 1;
        Properties extra = new Properties();
        try {
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                if (a.equals("-h") || a.equals("--help")) {
                    System.out.println(USAGE);
                    return;
                }
                if (i + 1 >= args.length) throw new IllegalArgumentException(a + " needs a value");
                String v = args[++i];
                switch (a) {
                    case "--bootstrap" -> bootstrap = v;
                    case "--input" -> input = v;
                    case "--output" -> output = v;
                    case "--application-id" -> appId = v;
                    case "--count" -> count = Long.parseLong(v);
                    case "--idle-ms" -> idleMs = Long.parseLong(v);
                    case "--start-timeout-ms" -> startTimeoutMs = Long.parseLong(v);
                    case "--threads" -> threads = Integer.parseInt(v);
                    case "--state-dir" -> stateDir = v;
                    case "--prop" -> {
                        int eq = v.indexOf('=');
                        if (eq <= 0) throw new IllegalArgumentException("--prop needs key=value: " + v);
                        extra.setProperty(v.substring(0, eq), v.substring(eq + 1));
                    }
                    default -> throw new IllegalArgumentException("unknown argument: " + a);
                }
            }
            if (input == null || output == null || appId == null)
                throw new IllegalArgumentException("--input, --output and --application-id are required");
        } catch (IllegalArgumentException e) {
            System.err.println("kstreams-filter: " + e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
        }

        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
        props.put(StreamsConfig.STATE_DIR_CONFIG,
                stateDir != null ? stateDir : Files.createTempDirectory("kstreams-filter-").toString());
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        props.put("processing.exception.handler.global.enabled", "true"); // 4.4 warns without it
        props.putAll(extra);

        ObjectMapper mapper = new ObjectMapper();
        AtomicLong seen = new AtomicLong();
        AtomicLong kept = new AtomicLong();
        AtomicLong firstNanos = new AtomicLong();
        AtomicLong lastNanos = new AtomicLong();

        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(input, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()))
                .peek((k, v) -> {
                    long now = System.nanoTime();
                    if (seen.getAndIncrement() == 0) firstNanos.set(now);
                    lastNanos.set(now);
                })
                .filter((k, v) -> keep(mapper, v))
                .peek((k, v) -> kept.incrementAndGet())
                .to(output, Produced.with(Serdes.ByteArray(), Serdes.ByteArray()));

        KafkaStreams streams = new KafkaStreams(builder.build(), props);
        AtomicLong failed = new AtomicLong();
        streams.setUncaughtExceptionHandler(e -> {
            System.err.println("kstreams-filter: stream thread failed: " + e);
            failed.incrementAndGet();
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse
                    .SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> streams.close(Duration.ofSeconds(30))));
        streams.start();

        String why;
        while (true) {
            Thread.sleep(10);
            long now = System.nanoTime();
            long n = seen.get();
            if (failed.get() > 0 || streams.state() == KafkaStreams.State.ERROR
                    || streams.state() == KafkaStreams.State.NOT_RUNNING) {
                why = "error";
                break;
            }
            if (count > 0 && n >= count) {
                why = "count";
                break;
            }
            if (n > 0 && now - lastNanos.get() > idleMs * 1_000_000L) {
                why = "idle";
                break;
            }
            if (n == 0 && now - start > startTimeoutMs * 1_000_000L) {
                why = "no input";
                break;
            }
        }
        streams.close(Duration.ofSeconds(60)); // commits the open transaction
        long end = System.nanoTime();
        double secs = (end - start) / 1e9;
        long n = seen.get();
        double first = n > 0 ? (firstNanos.get() - start) / 1e9 : -1;
        System.out.printf("kstreams-filter: records=%d kept=%d seconds=%.3f records_per_s=%.0f first_record_s=%.3f stop=%s%n",
                n, kept.get(), secs, secs > 0 ? n / secs : 0.0, first, why.replace(' ', '-'));
        System.out.flush();
        if (why.equals("error") || why.equals("no input")) System.exit(1);
        System.exit(0);
    }
}
