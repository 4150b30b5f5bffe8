import { Argument, Command } from 'commander';

/**
 * `keyhold completion bash|zsh|fish`: a completion script made from the command tree itself,
 * so that it knows every command and option the CLI has, and completes without starting Node
 * on each Tab. zsh loads the bash script through its bashcompinit, as the aws CLI's does.
 */

/** An option as completion sees it. */
interface OptionNode {
  long: string;
  short?: string;
  takesValue: boolean;
  choices?: readonly string[];
  description: string;
}

/** A command: where it is (`keys rotation`), what may follow it, and which options it takes. */
interface CommandNode {
  path: string;
  subcommands: { name: string; description: string }[];
  argumentChoices: readonly string[];
  options: OptionNode[];
}

const HELP: OptionNode = { long: '--help', short: '-h', takesValue: false, description: 'show help' };

function optionNodes(command: Command): OptionNode[] {
  const options = command.options
    .filter((option) => !option.hidden && option.long !== undefined)
    .map((option) => ({
      long: option.long!,
      ...(option.short === undefined ? {} : { short: option.short }),
      takesValue: option.required || option.optional,
      ...(option.argChoices === undefined ? {} : { choices: option.argChoices }),
      description: option.description,
    }));
  return [...options, HELP];
}

const visible = (command: Command) => !(command as unknown as { _hidden?: boolean })._hidden;

function firstLine(text: string): string {
  const line = text.split('\n')[0]!;
  return line.length > 90 ? `${line.slice(0, 89)}…` : line;
}

/** Every command of the tree, the root first (its path is ''). */
export function commandTree(root: Command): CommandNode[] {
  const nodes: CommandNode[] = [];
  const visit = (command: Command, path: string) => {
    const children = command.commands.filter(visible);
    const first = command.registeredArguments[0] as Argument | undefined;
    nodes.push({
      path,
      subcommands: children.map((child) => ({ name: child.name(), description: firstLine(child.description()) })),
      argumentChoices: first?.argChoices ?? [],
      options: optionNodes(command),
    });
    for (const child of children) visit(child, path === '' ? child.name() : `${path} ${child.name()}`);
  };
  visit(root, '');
  return nodes;
}

/** Options that take a value, from anywhere in the tree: the word after one is its value, not a command. */
function valueOptions(nodes: CommandNode[]): string[] {
  return [...new Set(nodes.flatMap((node) => node.options.filter((option) => option.takesValue).flatMap((option) => [option.long, option.short ?? []].flat())))].sort();
}

function flags(option: OptionNode): string[] {
  return option.short === undefined ? [option.long] : [option.short, option.long];
}

const bashWord = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

export function bashScript(root: Command): string {
  const nodes = commandTree(root);
  const [top] = nodes;
  const wordsCases = nodes.map((node) => {
    const next = node.subcommands.length > 0 ? node.subcommands.map((child) => child.name) : [...node.argumentChoices];
    return `    ${bashWord(node.path)}) commands=${bashWord(next.join(' '))}; options=${bashWord(node.options.flatMap(flags).join(' '))} ;;`;
  });
  const choiceCases = [
    ...nodes.slice(1).flatMap((node) => node.options.filter((option) => option.choices).map((option) =>
      `    ${flags(option).map((flag) => bashWord(`${node.path}|${flag}`)).join('|')}) echo ${bashWord(option.choices!.join(' '))} ;;`)),
    ...top!.options.filter((option) => option.choices).map((option) =>
      `    ${flags(option).map((flag) => `*${bashWord(`|${flag}`)}`).join('|')}) echo ${bashWord(option.choices!.join(' '))} ;;`),
  ];
  const commandPaths = nodes.slice(1).map((node) => bashWord(node.path)).join('|');
  return `# keyhold completion for bash. Load it in this shell with:  source <(keyhold completion bash)
# or for every shell:  keyhold completion bash > ~/.local/share/bash-completion/completions/keyhold

# The subcommands (or argument values) and the options of the command at "$1".
_keyhold_words() {
  case "$1" in
${wordsCases.join('\n')}
    *) commands=''; options='' ;;
  esac
}

_keyhold_is_command() {
  case "$1" in
    ${commandPaths}) return 0 ;;
  esac
  return 1
}

_keyhold_takes_value() {
  case "$1" in
    ${valueOptions(nodes).map(bashWord).join('|')}) return 0 ;;
  esac
  return 1
}

# The values of option "$2" of the command at "$1", if it has a fixed set.
_keyhold_choices() {
  case "$1|$2" in
${choiceCases.join('\n')}
    *) return 1 ;;
  esac
}

_keyhold_completion() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev='' path='' word i skip=0 arguments=0 commands options values
  (( COMP_CWORD > 0 )) && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  for (( i = 1; i < COMP_CWORD; i++ )); do
    word="\${COMP_WORDS[i]}"
    if (( skip )); then skip=0; continue; fi
    case "$word" in
      --*=*) ;;
      -*) _keyhold_takes_value "$word" && skip=1 ;;
      *) if _keyhold_is_command "\${path:+$path }$word"; then path="\${path:+$path }$word"; else arguments=1; fi ;;
    esac
  done
  COMPREPLY=()
  if (( skip )); then
    # The value of an option: its choices, or (the default) file names.
    values=$(_keyhold_choices "$path" "$prev") && COMPREPLY=($(compgen -W "$values" -- "$cur"))
    return 0
  fi
  _keyhold_words "$path"
  if [[ "$cur" == -* ]]; then
    [[ -n "$path" ]] && options="$options "${bashWord(top!.options.filter((option) => option.long !== '--help' && option.long !== '--version').map((option) => option.long).join(' '))}
    COMPREPLY=($(compgen -W "$options" -- "$cur"))
  elif [[ -n "$commands" ]] && (( ! arguments )); then
    # Subcommands (or the values of the first argument) until an argument is given.
    COMPREPLY=($(compgen -W "$commands" -- "$cur"))
  fi
  return 0
}

complete -o bashdefault -o default -F _keyhold_completion keyhold
`;
}

export function zshScript(root: Command): string {
  return `#compdef keyhold
# keyhold completion for zsh. Load it in this shell with:  source <(keyhold completion zsh)
# It is the bash completion, run by zsh's bashcompinit.
autoload -U +X compinit && { (( $+functions[compdef] )) || compinit -u }
autoload -U +X bashcompinit && bashcompinit

${bashScript(root).split('\n').filter((line) => !line.startsWith('# keyhold completion for bash') && !line.startsWith('# or for every shell')).join('\n')}`;
}

const fishWord = (word: string) => `'${word.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export function fishScript(root: Command): string {
  const nodes = commandTree(root);
  const [top] = nodes;
  const lines: string[] = [];
  const optionLine = (option: OptionNode, condition?: string) =>
    'complete -c keyhold' +
    (condition === undefined ? '' : ` -n ${fishWord(condition)}`) +
    ` -l ${option.long.slice(2)}` +
    (option.short === undefined ? '' : ` -s ${option.short.slice(1)}`) +
    (option.choices ? ` -x -a ${fishWord(option.choices.join(' '))}` : option.takesValue ? ' -r' : '') +
    ` -d ${fishWord(firstLine(option.description))}`;
  for (const option of top!.options) lines.push(optionLine(option));
  for (const node of nodes) {
    const at = `__keyhold_at ${fishWord(node.path)}`;
    for (const child of node.subcommands) lines.push(`complete -c keyhold -n ${fishWord(at)} -f -a ${fishWord(child.name)} -d ${fishWord(child.description)}`);
    if (node.subcommands.length === 0 && node.argumentChoices.length > 0) lines.push(`complete -c keyhold -n ${fishWord(at)} -f -a ${fishWord(node.argumentChoices.join(' '))}`);
    if (node === top) continue;
    for (const option of node.options) if (option !== HELP) lines.push(optionLine(option, at));
  }
  return `# keyhold completion for fish. Load it in this shell with:  keyhold completion fish | source
# or for every shell:  keyhold completion fish > ~/.config/fish/completions/keyhold.fish

set -g __keyhold_commands ${nodes.slice(1).map((node) => fishWord(node.path)).join(' ')}
set -g __keyhold_value_options ${valueOptions(nodes).map(fishWord).join(' ')}

# The command the line has reached so far, such as "keys rotation" ('' before any).
function __keyhold_path
    set -l tokens (commandline -opc)
    set -l path ''
    set -l skip 0
    for token in $tokens[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        switch $token
            case '--*=*'
            case '-*'
                contains -- $token $__keyhold_value_options; and set skip 1
            case '*'
                set -l next (string trim -- "$path $token")
                contains -- $next $__keyhold_commands; and set path $next
        end
    end
    echo $path
end

function __keyhold_at
    set -l here (__keyhold_path)
    test "$here" = "$argv[1]"
end

${lines.join('\n')}
`;
}

export function completionCommand(root: Command): Command {
  return new Command('completion')
    .description('print a shell completion script for bash, zsh or fish')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh', 'fish']))
    .addHelpText('after', '\nExamples:\n' +
      '  $ source <(keyhold completion bash)              # in ~/.bashrc\n' +
      '  $ source <(keyhold completion zsh)               # in ~/.zshrc\n' +
      '  $ keyhold completion fish > ~/.config/fish/completions/keyhold.fish')
    .action((shell: 'bash' | 'zsh' | 'fish') => {
      process.stdout.write(shell === 'bash' ? bashScript(root) : shell === 'zsh' ? zshScript(root) : fishScript(root));
    });
}
