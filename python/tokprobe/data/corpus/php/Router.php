<?php

declare(strict_types=1);

namespace App\Http;

use Closure;
use InvalidArgumentException;

final class Route
{
    /** @param list<string> $params */
    public function __construct(
        public readonly string $method,
        public readonly string $pattern,
        public readonly Closure $handler,
        public readonly array $params = [],
    ) {
    }
}

final class Router
{
    /** @var array<string, list<Route>> */
    private array $routes = [];

    public function get(string $path, callable $handler): self
    {
        return $this->add('GET', $path, $handler);
    }

    public function post(string $path, callable $handler): self
    {
        return $this->add('POST', $path, $handler);
    }

    public function add(string $method, string $path, callable $handler): self
    {
        if ($path === '' || $path[0] !== '/') {
            throw new InvalidArgumentException("path must start with '/': {$path}");
        }
        $params = [];
        $regex = preg_replace_callback('#\{([a-z_][a-z0-9_]*)\}#i', function (array $m) use (&$params): string {
            $params[] = $m[1];
            return '([^/]+)';
        }, $path);
        $this->routes[strtoupper($method)][] = new Route(
            strtoupper($method),
            '#^' . $regex . '$#',
            Closure::fromCallable($handler),
            $params,
        );
        return $this;
    }

    /** @return array{int, string} */
    public function dispatch(string $method, string $uri): array
    {
        $path = parse_url($uri, PHP_URL_PATH) ?: '/';
        foreach ($this->routes[strtoupper($method)] ?? [] as $route) {
            if (!preg_match($route->pattern, $path, $matches)) {
                continue;
            }
            $args = array_combine($route->params, array_slice($matches, 1)) ?: [];
            $body = ($route->handler)(...$args);
            return [200, is_string($body) ? $body : json_encode($body, JSON_THROW_ON_ERROR)];
        }
        foreach ($this->routes as $verb => $list) {
            foreach ($list as $route) {
                if ($verb !== strtoupper($method) && preg_match($route->pattern, $path)) {
                    return [405, 'Method Not Allowed'];
                }
            }
        }
        return [404, 'Not Found'];
    }
}

$router = (new Router())
    ->get('/', fn (): string => 'home')
    ->get('/users/{id}', fn (string $id): array => ['id' => (int) $id, 'name' => "user{$id}"])
    ->post('/users', static function (): array {
        return ['created' => true];
    });

if (PHP_SAPI === 'cli') {
    foreach ([['GET', '/'], ['GET', '/users/42?x=1'], ['POST', '/users/42'], ['GET', '/nope']] as [$m, $u]) {
        [$status, $body] = $router->dispatch($m, $u);
        printf("%-4s %-16s %d %s\n", $m, $u, $status, $body);
    }
}
