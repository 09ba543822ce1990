package dev.ckptdiff.cli;

import java.io.PrintWriter;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

import picocli.CommandLine;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.MappedFile;

/** Entry point: exit 0 clean, 1 findings, 2 bad input or usage. */
public final class Main {
    public static final int FINDINGS = 1;
    public static final int BAD_INPUT = 2;
    /** When main was entered, for --timings. */
    static final long START = System.nanoTime();

    private Main() {
    }

    public static void main(String[] args) {
        LauncherStderr.restoreInBackground();
        int rc = run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args);
        LauncherStderr.awaitRestored();
        System.exit(rc);
    }

    /** Runs the CLI with the given streams; tests call this. */
    /**
     * Subcommands by name. Only the one invoked is registered (all of them for help): picocli reads
     * each command's annotations when it is added, which costs ~0.1 s of start-up apiece.
     */
    static final Map<String, Supplier<Object>> SUBCOMMANDS = new LinkedHashMap<>();

    static {
        SUBCOMMANDS.put("inspect", InspectCommand::new);
        SUBCOMMANDS.put("check", CheckCommand::new);
        SUBCOMMANDS.put("convert", ConvertCommand::new);
        SUBCOMMANDS.put("merge", MergeCommand::new);
    }

    public static int run(PrintWriter out, PrintWriter err, String... args) {
        out = SafeWriter.wrap(out);
        err = SafeWriter.wrap(err);
        CommandLine cl = new CommandLine(new DiffCommand());
        boolean help = args.length == 0 || Arrays.stream(args).anyMatch(a -> a.equals("-h") || a.equals("--help")
                || a.equals("help"));
        for (Map.Entry<String, Supplier<Object>> e : SUBCOMMANDS.entrySet()) {
            if ((args.length > 0 && args[0].equals(e.getKey())) || (help && (args.length == 0 || !SUBCOMMANDS.containsKey(args[0])))) {
                cl.addSubcommand(e.getKey(), e.getValue().get());
            }
        }
        cl.setOut(out);
        cl.setErr(err);
        cl.setExecutionExceptionHandler((ex, line, parsed) -> {
            if (ex instanceof CommandLine.ParameterException pe) {
                return cl.getParameterExceptionHandler().handleParseException(pe, args);
            }
            line.getErr().println("ckpt-diff: " + Text.safe(oneLine(ex)));
            if (Boolean.getBoolean("ckptdiff.debug")) {
                ex.printStackTrace(line.getErr());
            }
            return BAD_INPUT;
        });
        cl.setParameterExceptionHandler((ex, a) -> {
            CommandLine c = ex.getCommandLine();
            c.getErr().println("ckpt-diff: " + Text.safe(ex.getMessage()));
            c.getErr().println("Try '" + c.getCommandSpec().qualifiedName() + " --help' for more information.");
            return BAD_INPUT;
        });
        try (var warnings = dev.ckptdiff.io.Warnings.to(err::println)) {
            return cl.execute(args);
        } catch (InternalError e) {
            if (!MappedFile.isFault(e)) {
                throw e;
            }
            err.println("ckpt-diff: " + Text.safe(MappedFile.fault(e).getMessage()));
            return BAD_INPUT;
        } catch (OutOfMemoryError e) {
            err.println("ckpt-diff: out of memory (" + e.getMessage() + "); this is a bug: memory use should not grow"
                    + " with the model");
            return BAD_INPUT;
        }
    }

    static String oneLine(Throwable ex) {
        for (Throwable c = ex; c != null; c = c.getCause()) {
            if (MappedFile.isFault(c)) {
                return MappedFile.fault(c).getMessage();
            }
            if (c instanceof BadInputException && c != ex && (ex instanceof java.util.concurrent.CompletionException
                    || ex instanceof java.util.concurrent.ExecutionException)) {
                return c.getMessage();
            }
        }
        if (ex instanceof BadInputException) {
            return ex.getMessage();
        }
        if (ex instanceof java.io.UncheckedIOException u && u.getCause() != null) {
            return u.getCause().getMessage();
        }
        String m = ex.getMessage();
        return ex.getClass().getSimpleName() + (m == null ? "" : ": " + m.lines().findFirst().orElse(""))
                + " (run with -Dckptdiff.debug=true for details)";
    }
}
