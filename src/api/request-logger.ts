// Each request's logger (request.log, reply.log): pino's child with the request id, made the first time something is
// actually logged through it. fastify makes that child for every request before any route code runs; at warn or
// silent a status read logs nothing, and the child (its bindings serialised to a string, a new logger object) took
// 1–2.5 µs of a ~60 µs cached read in CPU profiles. At info every completed request is logged, so the child is made as
// before.
import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, Logger } from 'pino';

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
type Parent = FastifyBaseLogger & Partial<Pick<Logger, 'isLevelEnabled'>>;
type Call = (...args: unknown[]) => void;

class LazyChildLogger {
  private made?: FastifyBaseLogger;

  constructor(
    private readonly parent: Parent,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  private get real(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindings, this.options));
  }

  get level(): string {
    return this.made?.level ?? this.options.level ?? this.parent.level;
  }

  set level(level: string) {
    this.real.level = level;
  }

  /** Whether a line at `level` would be written; a logger that cannot say (not pino) is asked by making the child. */
  private writes(level: Level): boolean {
    // a level of the route's own (fastify's route logLevel) decides in the child
    if (this.made === undefined && this.options.level === undefined && this.parent.isLevelEnabled) return this.parent.isLevelEnabled(level);
    const child = this.real as Parent;
    return child.isLevelEnabled ? child.isLevelEnabled(level) : true;
  }

  private write(level: Level, args: unknown[]): void {
    if (this.writes(level)) (this.real[level] as Call).apply(this.real, args);
  }

  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }
  error(...args: unknown[]): void {
    this.write('error', args);
  }
  warn(...args: unknown[]): void {
    this.write('warn', args);
  }
  info(...args: unknown[]): void {
    this.write('info', args);
  }
  debug(...args: unknown[]): void {
    this.write('debug', args);
  }
  trace(...args: unknown[]): void {
    this.write('trace', args);
  }
  silent(): void {}

  isLevelEnabled(level: string): boolean {
    return this.writes(level as Level);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.real.child(bindings, options);
  }
}

/** fastify's childLoggerFactory: the same child as fastify's own factory makes, on first use. */
export function lazyChildLogger(logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  return new LazyChildLogger(logger, bindings, options) as unknown as FastifyBaseLogger;
}
