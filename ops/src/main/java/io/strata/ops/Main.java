package io.strata.ops;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.util.List;

/** The {@code strata} command line. Each subcommand is its own class; contracts in DESIGN.md's CLI table. */
@Command(name = "strata", mixinStandardHelpOptions = true, version = "strata 0.1.0",
        description = "Serve one large language model across a fleet of machines.")
public final class Main implements Runnable {

    /** The subcommands, in the order the usage lists them. */
    static final List<Class<?>> SUBCOMMANDS = List.of(
            CommandLine.HelpCommand.class,
            io.strata.ops.cluster.LocalCommand.class,
            io.strata.ops.cluster.ZookeeperCommand.class,
            io.strata.ops.cluster.CoordinatorCommand.class,
            io.strata.ops.cluster.WorkerCommand.class,
            io.strata.ops.cluster.PlanCommand.class,
            LogitsCommand.class,
            BenchCommand.class,
            TokenizeCommand.class,
            SynthCommand.class,
            GenerateCommand.class);

    static final String NETTY_LEAK_DETECTION = "io.grpc.netty.shaded.io.netty.leakDetection.level";

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        // Netty's leak detector, on by default, takes a stack trace of one pooled buffer in 128 when it is allocated
        // and released: a stack walk of a tenth of a millisecond inside a pipeline hop (BENCHMARKS.md, "Cluster").
        // The processes turn it off unless it is set explicitly; tests, which do not start here, keep it.
        if (System.getProperty(NETTY_LEAK_DETECTION) == null) System.setProperty(NETTY_LEAK_DETECTION, "disabled");
        int code = commandLine(args.length > 0 ? args[0] : null).execute(args);
        System.exit(code);
    }

    /** The configured command line with every subcommand (tests call {@code execute} on it in-process). */
    public static CommandLine commandLine() {
        return commandLine(null);
    }

    /**
     * The command line with only subcommand {@code first} when that names one, else with all: picocli builds the model
     * of each subcommand it is given by reflection, which a cold JVM takes about 0.1 s over for all of them.
     */
    static CommandLine commandLine(String first) {
        CommandLine cl = new CommandLine(new Main());
        Class<?> only = null;
        for (Class<?> c : SUBCOMMANDS) {
            Command a = c.getAnnotation(Command.class);
            if (a != null && (a.name().equals(first) || java.util.Arrays.asList(a.aliases()).contains(first))) only = c;
        }
        for (Class<?> c : only != null && only != CommandLine.HelpCommand.class ? List.of(only) : SUBCOMMANDS) cl.addSubcommand(c);
        return configure(cl);
    }

    private static CommandLine configure(CommandLine cl) {
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            cmd.getErr().println("strata " + cmd.getCommandName() + ": " + message(ex));
            if (System.getenv("STRATA_DEBUG") != null) ex.printStackTrace(cmd.getErr());
            return 1;
        });
        return cl;
    }

    private static String message(Throwable t) {
        String m = t.getMessage();
        return m == null || m.isBlank() ? t.toString() : m;
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
